//! `geohash(lat, lon, precision)`: the standard base-32 geohash of a point.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::distance::checked_coordinates;
use crate::common::{Param, check_arity, float_type, param_names};

const NAME: &str = "geohash";
const LAT: Param = Param::new(NAME, 0, "lat");
const LON: Param = Param::new(NAME, 1, "lon");
const PRECISION: Param = Param::new(NAME, 2, "precision");

/// The longest geohash: 12 characters are 60 bits, cells of a few
/// centimetres, past what an f64 degree pins down usefully.
pub const MAX_PRECISION: usize = 12;

/// The geohash alphabet: digits and lower-case letters without a, i, l, o.
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The geohash of (`lat`, `lon`) with `precision` characters.
///
/// Each character holds five bits; bits alternate between longitude (first)
/// and latitude, each bit halving its interval and being 1 when the value
/// lies in the upper half (a value on the midpoint goes up). So a longer
/// hash always starts with the shorter one.
///
/// # Panics
/// Never for in-range input; callers check `lat` in -90..=90, `lon` in
/// -180..=180 and `precision` in 1..=12, as SQL calls are.
pub fn encode_geohash(lat: f64, lon: f64, precision: usize) -> String {
    let mut lat_range = (-90.0_f64, 90.0_f64);
    let mut lon_range = (-180.0_f64, 180.0_f64);
    let mut out = String::with_capacity(precision);
    let mut even_bit = true;
    for _ in 0..precision {
        let mut index = 0usize;
        for _ in 0..5 {
            let (range, value) = if even_bit {
                (&mut lon_range, lon)
            } else {
                (&mut lat_range, lat)
            };
            let mid = (range.0 + range.1) / 2.0;
            index <<= 1;
            if value >= mid {
                index |= 1;
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even_bit = !even_bit;
        }
        out.push(BASE32[index] as char);
    }
    out
}

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "The standard base-32 geohash of the point (lat, lon) with precision \
characters (1 to 12): bits alternate longitude then latitude, each halving its interval, five \
bits per character from the alphabet 0123456789bcdefghjkmnpqrstuvwxyz. Points sharing a prefix \
are in the same cell, so grouping by geohash(lat, lon, 5) (cells of about 5 km x 5 km) clusters \
locations. NULL if any argument is NULL. A latitude outside -90..90, a longitude outside \
-180..180 or a precision outside 1..12 is an error naming the argument.",
    syntax_example = "geohash(lat, lon, precision)",
    sql_example = r#"```sql
> SELECT geohash(57.64911, 10.40744, 11) AS jutland, geohash(52.52, 13.405, 5) AS berlin;
+-------------+--------+
| jutland     | berlin |
+-------------+--------+
| u4pruydqqvj | u33dc  |
+-------------+--------+
```"#,
    argument(name = "lat", description = "Latitude in degrees, -90 to 90."),
    argument(name = "lon", description = "Longitude in degrees, -180 to 180."),
    argument(
        name = "precision",
        description = "Number of characters, an integer from 1 to 12."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Geohash {
    signature: Signature,
}

impl Geohash {
    /// The `geohash` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[LAT, LON, PRECISION]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for Geohash {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Geohash {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 3..=3)?;
        Ok(vec![
            float_type(LAT, &arg_types[0])?,
            float_type(LON, &arg_types[1])?,
            precision_type(&arg_types[2])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [lat, lon, precision] =
            take_function_args(NAME, ColumnarValue::values_to_arrays(&args.args)?)?;
        let lat = checked_coordinates(LAT, &lat)?;
        let lon = checked_coordinates(LON, &lon)?;
        let precision = checked_precision(&precision)?;
        Ok(ColumnarValue::Array(Arc::new(geohashes(
            &lat, &lon, &precision,
        ))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Any integer is read as Int64; a UInt64 too large for it is out of range
/// anyway, and the planner's cast error would not name the argument, so it
/// is refused here with the same wording as other types.
fn precision_type(data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Null => Ok(DataType::Int64),
        DataType::Dictionary(_, value) => precision_type(value),
        t if t.is_integer() => Ok(DataType::Int64),
        other => Err(PRECISION.error(format_args!(
            "must be an integer from 1 to {MAX_PRECISION}, got type {other}"
        ))),
    }
}

fn checked_precision(array: &ArrayRef) -> Result<Int64Array> {
    let precision = array.as_primitive::<Int64Type>();
    let valid = 1..=MAX_PRECISION as i64;
    match precision.iter().flatten().find(|p| !valid.contains(p)) {
        Some(bad) => Err(PRECISION.exec_error(format_args!(
            "must be an integer from 1 to {MAX_PRECISION}, got {bad}"
        ))),
        None => Ok(precision.clone()),
    }
}

/// Geohashes of checked inputs, NULL where any input is NULL.
fn geohashes(lat: &Float64Array, lon: &Float64Array, precision: &Int64Array) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(lat.len(), lat.len() * 8);
    for i in 0..lat.len() {
        if lat.is_null(i) || lon.is_null(i) || precision.is_null(i) {
            out.append_null();
        } else {
            out.append_value(encode_geohash(
                lat.value(i),
                lon.value(i),
                precision.value(i) as usize,
            ));
        }
    }
    Arc::new(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a hash to its cell, walking the bits the other way; used to
    /// check that every encoded point lies inside its own cell.
    fn cell(hash: &str) -> ((f64, f64), (f64, f64)) {
        let (mut lat, mut lon) = ((-90.0, 90.0), (-180.0, 180.0));
        let mut even = true;
        for c in hash.bytes() {
            let index = BASE32.iter().position(|&b| b == c).unwrap();
            for bit in (0..5).rev() {
                let range: &mut (f64, f64) = if even { &mut lon } else { &mut lat };
                let mid = (range.0 + range.1) / 2.0;
                if index >> bit & 1 == 1 {
                    range.0 = mid;
                } else {
                    range.1 = mid;
                }
                even = !even;
            }
        }
        (lat, lon)
    }

    #[test]
    fn published_examples() {
        // The two worked examples of the geohash article on Wikipedia.
        assert_eq!(encode_geohash(57.64911, 10.40744, 11), "u4pruydqqvj");
        assert_eq!(encode_geohash(42.605, -5.603, 5), "ezs42");
    }

    #[test]
    fn corners_and_prefixes() {
        assert_eq!(encode_geohash(-90.0, -180.0, 12), "000000000000");
        assert_eq!(encode_geohash(90.0, 180.0, 12), "zzzzzzzzzzzz");
        // The origin sits on both midpoints, so every bit goes up first: 's'.
        assert_eq!(encode_geohash(0.0, 0.0, 1), "s");
        let long = encode_geohash(48.1351, 11.582, 12);
        for p in 1..=12 {
            assert_eq!(encode_geohash(48.1351, 11.582, p), long[..p]);
        }
    }

    #[test]
    fn points_lie_in_their_cells() {
        for &(lat, lon) in &[
            (52.52, 13.405),
            (-33.8688, 151.2093),
            (0.1, -0.1),
            (-89.9, 179.9),
        ] {
            for p in 1..=MAX_PRECISION {
                let ((lat_lo, lat_hi), (lon_lo, lon_hi)) = cell(&encode_geohash(lat, lon, p));
                assert!((lat_lo..=lat_hi).contains(&lat), "{lat} {lon} {p}");
                assert!((lon_lo..=lon_hi).contains(&lon), "{lat} {lon} {p}");
            }
        }
    }

    #[test]
    fn nulls_and_bad_precision() {
        let lat = Float64Array::from(vec![Some(57.64911), None, Some(1.0)]);
        let lon = Float64Array::from(vec![Some(10.40744), Some(1.0), Some(1.0)]);
        let precision = Int64Array::from(vec![Some(4), Some(4), None]);
        let out = geohashes(&lat, &lon, &precision);
        let got: Vec<Option<&str>> = out.as_string::<i32>().iter().collect();
        assert_eq!(got, [Some("u4pr"), None, None]);

        for bad in [0, 13, -1] {
            let array: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(bad)]));
            let err = checked_precision(&array).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "geohash: argument 3 (precision) must be an integer from 1 to 12, got {bad}"
                )),
                "{err}"
            );
        }
        assert!(precision_type(&DataType::Float64).is_err());
        assert_eq!(precision_type(&DataType::UInt8).unwrap(), DataType::Int64);
    }
}
