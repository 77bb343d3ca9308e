//! `haversine_km(lat1, lon1, lat2, lon2)` and `within_km(lat1, lon1, lat2,
//! lon2, radius_km)`: great-circle distance between two points.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use crate::common::{Param, check_arity, float_type, param_names};

/// The mean Earth radius (IUGG, (2a + b) / 3 of the WGS 84 ellipsoid), in km.
/// A sphere is off the ellipsoid by up to about 0.5%, far below what a
/// customer's location is known to.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km between two points given in degrees, on a
/// sphere of radius [`EARTH_RADIUS_KM`], by the haversine formula (which
/// stays accurate for points metres apart, where the law of cosines does not).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let half_dphi = (phi2 - phi1) / 2.0;
    let half_dlambda = (lon2 - lon1).to_radians() / 2.0;
    let h = half_dphi.sin().powi(2) + phi1.cos() * phi2.cos() * half_dlambda.sin().powi(2);
    // Rounding can push h a hair above 1 for antipodal points.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The bound a coordinate argument must be within: 90 for latitudes, 180 for
/// longitudes. Out-of-range values are refused rather than wrapped, since
/// they are nearly always swapped or mis-scaled columns.
fn coordinate_bound(param: Param) -> (f64, &'static str) {
    if param.name.starts_with("lat") {
        (90.0, "latitude")
    } else {
        (180.0, "longitude")
    }
}

/// The coordinate column of `param` as Float64, failing on the first
/// non-NULL value out of its range (NaN included).
pub(super) fn checked_coordinates(param: Param, array: &ArrayRef) -> Result<Float64Array> {
    let values = array.as_primitive::<Float64Type>();
    let (bound, what) = coordinate_bound(param);
    match values
        .iter()
        .flatten()
        .find(|v| !(-bound..=bound).contains(v))
    {
        Some(bad) => Err(param.exec_error(format_args!(
            "must be a {what} between -{bound} and {bound} degrees, got {bad}"
        ))),
        None => Ok(values.clone()),
    }
}

/// The four checked coordinate columns of a call.
fn checked_points(params: &[Param; 4], arrays: [ArrayRef; 4]) -> Result<[Float64Array; 4]> {
    let [a, b, c, d] = arrays;
    Ok([
        checked_coordinates(params[0], &a)?,
        checked_coordinates(params[1], &b)?,
        checked_coordinates(params[2], &c)?,
        checked_coordinates(params[3], &d)?,
    ])
}

/// Distances row by row, NULL where any coordinate is NULL.
fn distances([lat1, lon1, lat2, lon2]: &[Float64Array; 4]) -> Float64Array {
    (0..lat1.len())
        .map(|i| {
            let valid = [lat1, lon1, lat2, lon2].iter().all(|a| a.is_valid(i));
            valid.then(|| haversine_km(lat1.value(i), lon1.value(i), lat2.value(i), lon2.value(i)))
        })
        .collect()
}

const HAVERSINE: &str = "haversine_km";
const HAVERSINE_PARAMS: [Param; 4] = [
    Param::new(HAVERSINE, 0, "lat1"),
    Param::new(HAVERSINE, 1, "lon1"),
    Param::new(HAVERSINE, 2, "lat2"),
    Param::new(HAVERSINE, 3, "lon2"),
];

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "Great-circle distance in kilometres between (lat1, lon1) and (lat2, lon2), \
by the haversine formula on a sphere of the mean Earth radius, 6371.0088 km (IUGG). Coordinates \
are in degrees; any number type is accepted. NULL if any argument is NULL. A latitude outside \
-90..90 or a longitude outside -180..180 (or NaN) is an error naming the argument.",
    syntax_example = "haversine_km(lat1, lon1, lat2, lon2)",
    sql_example = r#"```sql
> SELECT round(haversine_km(52.5200, 13.4050, 48.1351, 11.5820), 1) AS berlin_munich;
+---------------+
| berlin_munich |
+---------------+
| 504.4         |
+---------------+
```"#,
    argument(
        name = "lat1",
        description = "Latitude of the first point, degrees north (-90 to 90)."
    ),
    argument(
        name = "lon1",
        description = "Longitude of the first point, degrees east (-180 to 180)."
    ),
    argument(name = "lat2", description = "Latitude of the second point."),
    argument(name = "lon2", description = "Longitude of the second point.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HaversineKm {
    signature: Signature,
}

impl HaversineKm {
    /// The `haversine_km` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&HAVERSINE_PARAMS))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for HaversineKm {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for HaversineKm {
    fn name(&self) -> &str {
        HAVERSINE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(HAVERSINE, arg_types.len(), 4..=4)?;
        HAVERSINE_PARAMS
            .iter()
            .zip(arg_types)
            .map(|(param, t)| float_type(*param, t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = take_function_args(HAVERSINE, ColumnarValue::values_to_arrays(&args.args)?)?;
        let points = checked_points(&HAVERSINE_PARAMS, arrays)?;
        Ok(ColumnarValue::Array(Arc::new(distances(&points))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

const WITHIN: &str = "within_km";
const WITHIN_POINTS: [Param; 4] = [
    Param::new(WITHIN, 0, "lat1"),
    Param::new(WITHIN, 1, "lon1"),
    Param::new(WITHIN, 2, "lat2"),
    Param::new(WITHIN, 3, "lon2"),
];
const RADIUS: Param = Param::new(WITHIN, 4, "radius_km");

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "True if the great-circle distance between (lat1, lon1) and (lat2, lon2), as \
haversine_km computes it, is at most radius_km (the boundary counts as within). NULL if any \
argument is NULL. Coordinates out of range, and a negative or NaN radius, are errors naming the \
argument.",
    syntax_example = "within_km(lat1, lon1, lat2, lon2, radius_km)",
    sql_example = r#"```sql
> SELECT within_km(52.5200, 13.4050, 52.3906, 13.0645, 30) AS potsdam_in_30km,
         within_km(52.5200, 13.4050, 48.1351, 11.5820, 300) AS munich_in_300km;
+-----------------+-----------------+
| potsdam_in_30km | munich_in_300km |
+-----------------+-----------------+
| true            | false           |
+-----------------+-----------------+
```"#,
    argument(
        name = "lat1",
        description = "Latitude of the first point, degrees (-90 to 90)."
    ),
    argument(
        name = "lon1",
        description = "Longitude of the first point, degrees (-180 to 180)."
    ),
    argument(name = "lat2", description = "Latitude of the second point."),
    argument(name = "lon2", description = "Longitude of the second point."),
    argument(
        name = "radius_km",
        description = "Largest distance that counts as within, in km (0 or more)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WithinKm {
    signature: Signature,
}

impl WithinKm {
    /// The `within_km` scalar function.
    pub fn new() -> Self {
        let mut params = WITHIN_POINTS.to_vec();
        params.push(RADIUS);
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&params))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for WithinKm {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for WithinKm {
    fn name(&self) -> &str {
        WITHIN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(WITHIN, arg_types.len(), 5..=5)?;
        WITHIN_POINTS
            .iter()
            .chain([&RADIUS])
            .zip(arg_types)
            .map(|(param, t)| float_type(*param, t))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [lat1, lon1, lat2, lon2, radius] =
            take_function_args(WITHIN, ColumnarValue::values_to_arrays(&args.args)?)?;
        let points = checked_points(&WITHIN_POINTS, [lat1, lon1, lat2, lon2])?;
        let radius = checked_radius(&radius)?;
        Ok(ColumnarValue::Array(Arc::new(within(
            &distances(&points),
            &radius,
        ))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

fn checked_radius(array: &ArrayRef) -> Result<Float64Array> {
    let radius = array.as_primitive::<Float64Type>();
    match radius.iter().flatten().find(|r| r.is_nan() || *r < 0.0) {
        Some(bad) => Err(RADIUS.exec_error(format_args!("must be 0 or more km, got {bad}"))),
        None => Ok(radius.clone()),
    }
}

fn within(distances: &Float64Array, radius: &Float64Array) -> BooleanArray {
    distances
        .iter()
        .zip(radius.iter())
        .map(|(d, r)| Some(d? <= r?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }

    // Reference values by the same formula written independently in Python:
    // python3 -c 'from math import *; R=6371.0088; h=lambda a,b,c,d: 2*R*asin(sqrt(sin(radians(c-a)/2)**2+cos(radians(a))*cos(radians(c))*sin(radians(d-b)/2)**2)); print(repr(h(52.52,13.405,48.1351,11.582)), repr(h(0,0,0,180)), repr(h(51.5007,-0.1246,40.6892,-74.0445)))'
    #[test]
    fn known_distances() {
        close(
            haversine_km(52.52, 13.405, 48.1351, 11.582),
            504.4160281285082,
        );
        close(
            haversine_km(51.5007, -0.1246, 40.6892, -74.0445),
            5574.848157146156,
        );
    }

    #[test]
    fn closed_forms() {
        // Antipodes along the equator: half the circumference, pi * R.
        close(
            haversine_km(0.0, 0.0, 0.0, 180.0),
            std::f64::consts::PI * EARTH_RADIUS_KM,
        );
        // Pole to pole: also pi * R; one degree of latitude: R * pi / 180.
        close(
            haversine_km(90.0, 0.0, -90.0, 0.0),
            std::f64::consts::PI * EARTH_RADIUS_KM,
        );
        close(
            haversine_km(10.0, 5.0, 11.0, 5.0),
            EARTH_RADIUS_KM * std::f64::consts::PI / 180.0,
        );
        assert_eq!(haversine_km(48.0, 11.0, 48.0, 11.0), 0.0);
        // Symmetric, and -180 is the same meridian as 180.
        close(
            haversine_km(1.0, 2.0, 3.0, 4.0),
            haversine_km(3.0, 4.0, 1.0, 2.0),
        );
        assert!(haversine_km(0.0, -180.0, 0.0, 180.0) < 1e-9);
    }

    #[test]
    fn nulls_and_range_errors() {
        let lat: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.0), None, Some(91.0)]));
        let err = checked_coordinates(HAVERSINE_PARAMS[2], &lat)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "haversine_km: argument 3 (lat2) must be a latitude between -90 and 90 degrees, got 91"
            ),
            "{err}"
        );
        let lon: ArrayRef = Arc::new(Float64Array::from(vec![Some(f64::NAN)]));
        let err = checked_coordinates(HAVERSINE_PARAMS[1], &lon)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("argument 2 (lon1) must be a longitude"),
            "{err}"
        );

        let col = |v: Vec<Option<f64>>| Float64Array::from(v);
        let points = [
            col(vec![Some(0.0), None]),
            col(vec![Some(0.0), Some(0.0)]),
            col(vec![Some(0.0), Some(0.0)]),
            col(vec![Some(1.0), Some(0.0)]),
        ];
        let got: Vec<Option<f64>> = distances(&points).iter().collect();
        assert_eq!(got.len(), 2);
        close(
            got[0].unwrap(),
            EARTH_RADIUS_KM * std::f64::consts::PI / 180.0,
        );
        assert_eq!(got[1], None);
    }

    #[test]
    fn within_includes_the_boundary() {
        let d = Float64Array::from(vec![Some(10.0), Some(10.0), None, Some(0.0)]);
        let r = Float64Array::from(vec![Some(10.0), Some(9.999), Some(1.0), None]);
        let got: Vec<Option<bool>> = within(&d, &r).iter().collect();
        assert_eq!(got, [Some(true), Some(false), None, None]);

        let bad: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), Some(-0.5)]));
        let err = checked_radius(&bad).unwrap_err().to_string();
        assert!(
            err.contains("within_km: argument 5 (radius_km) must be 0 or more km, got -0.5"),
            "{err}"
        );
        let nan: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN]));
        assert!(checked_radius(&nan).is_err());
    }
}
