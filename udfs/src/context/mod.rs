//! Context of an event: when (daypart, weekend), where (distances,
//! geohash) and in what mood (sentiment of a text).
//!
//! - [`daypart`](Daypart): `'night'`, `'early_morning'`, `'morning'`, `'afternoon'` or `'evening'`
//! - [`is_weekend`](IsWeekend): Saturday or Sunday
//! - [`haversine_km`](HaversineKm) and [`within_km`](WithinKm): great-circle distance
//! - [`geohash`](Geohash): the standard base-32 geohash cell of a point
//! - [`sentiment`](Sentiment) and [`sentiment_label`](SentimentLabel): lexicon score of a text

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampSecondType};
use datafusion::arrow::temporal_conversions::as_datetime_with_timezone;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::common::{Param, map_texts, text_type};

mod daypart;
mod distance;
mod geohash;
mod is_weekend;
mod sentiment;

pub use daypart::{Daypart, daypart_of_hour};
pub use distance::{EARTH_RADIUS_KM, HaversineKm, WithinKm, haversine_km};
pub use geohash::{Geohash, MAX_PRECISION, encode_geohash};
pub use is_weekend::IsWeekend;
pub use sentiment::{
    INTENSIFIERS, LABEL_THRESHOLD, NEGATION, NEGATORS, Sentiment, SentimentLabel, label_of,
    sentiment_score,
};

/// Scalar functions of this family.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(Daypart::new())),
        Arc::new(ScalarUDF::new_from_impl(IsWeekend::new())),
        Arc::new(ScalarUDF::new_from_impl(HaversineKm::new())),
        Arc::new(ScalarUDF::new_from_impl(WithinKm::new())),
        Arc::new(ScalarUDF::new_from_impl(Geohash::new())),
        Arc::new(ScalarUDF::new_from_impl(Sentiment::new())),
        Arc::new(ScalarUDF::new_from_impl(SentimentLabel::new())),
    ]
}

const SECONDS_PER_DAY: i64 = 86_400;

/// Type check for the timestamp argument of a calendar function: any unit,
/// with or without zone, is read as it is (the unit is handled in
/// [`local_seconds`]); an untyped NULL becomes a naive timestamp.
fn timestamp_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Timestamp(_, _) => Ok(data_type.clone()),
        DataType::Null => Ok(DataType::Timestamp(TimeUnit::Nanosecond, None)),
        DataType::Dictionary(_, value) => timestamp_type(param, value),
        other => Err(param.error(format_args!("must be a timestamp, got type {other}"))),
    }
}

/// Type check for a time zone argument.
fn zone_type(param: Param, data_type: &DataType) -> Result<DataType> {
    text_type(param, data_type, "a time zone name such as 'Europe/London'")
}

/// A time zone named by the data, or an error naming `param` and the name.
fn parse_zone(param: Param, name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        param.exec_error(format_args!(
            "is not a known time zone: '{name}' (expected an IANA name such as 'Europe/London' or an offset such as '+01:00')"
        ))
    })
}

/// Wall-clock time as seconds since 1970-01-01 00:00 on that clock: what
/// the calendar functions read the hour and the weekday from.
///
/// - no `zone` argument: a naive timestamp is already wall-clock time; a
///   zoned one is shown in its own zone;
/// - with `zone`: the instant (a naive timestamp taken as UTC) is shown in
///   that zone. A NULL zone gives NULL.
///
/// Sub-second parts are floored, so 23:59:59.999 is still 23h.
fn local_seconds(
    ts_param: Param,
    zone_param: Param,
    ts: &ColumnarValue,
    zone: Option<&ColumnarValue>,
    rows: usize,
) -> Result<Int64Array> {
    let ts = ts.to_array(rows)?;
    let DataType::Timestamp(unit, own_zone) = ts.data_type().clone() else {
        return Err(ts_param.exec_error(format_args!(
            "must be a timestamp, got type {}",
            ts.data_type()
        )));
    };
    let per_second = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    // The raw count of the unit, NULLs kept; timestamps cast to Int64 losslessly.
    let raw = cast(&ts, &DataType::Int64)?;
    let seconds: Int64Array = raw
        .as_primitive::<Int64Type>()
        .unary(|v| v.div_euclid(per_second));

    match zone {
        None => match own_zone {
            None => Ok(seconds),
            Some(name) => {
                let tz = parse_zone(ts_param, &name)?;
                shift_all(ts_param, &seconds, tz)
            }
        },
        Some(ColumnarValue::Scalar(name)) => match scalar_text(name) {
            None => Ok(Int64Array::new_null(seconds.len())),
            Some(name) => {
                let tz = parse_zone(zone_param, name)?;
                shift_all(ts_param, &seconds, tz)
            }
        },
        Some(ColumnarValue::Array(names)) => shift_each(ts_param, zone_param, &seconds, names),
    }
}

/// The text of a scalar string argument, `None` when NULL.
fn scalar_text(value: &ScalarValue) -> Option<&str> {
    value.try_as_str().flatten()
}

/// Wall-clock seconds in `tz` of the UTC instant `seconds`.
fn shift(ts_param: Param, seconds: i64, tz: Tz) -> Result<i64> {
    as_datetime_with_timezone::<TimestampSecondType>(seconds, tz)
        .map(|t| t.naive_local().and_utc().timestamp())
        .ok_or_else(|| {
            ts_param.exec_error(format_args!(
                "is out of the supported range: {seconds} seconds since 1970"
            ))
        })
}

fn shift_all(ts_param: Param, seconds: &Int64Array, tz: Tz) -> Result<Int64Array> {
    seconds
        .iter()
        .map(|s| s.map(|s| shift(ts_param, s, tz)).transpose())
        .collect()
}

/// One zone per row. Zone columns usually repeat the same few names, so
/// the last parsed zone is kept instead of parsing every row.
fn shift_each(
    ts_param: Param,
    zone_param: Param,
    seconds: &Int64Array,
    names: &ArrayRef,
) -> Result<Int64Array> {
    let mut last: Option<(String, Tz)> = None;
    let mut row = 0;
    map_texts(names, |name| {
        let s = seconds.is_valid(row).then(|| seconds.value(row));
        row += 1;
        let (Some(s), Some(name)) = (s, name) else {
            return Ok(None);
        };
        let tz = match &last {
            Some((cached, tz)) if cached == name => *tz,
            _ => {
                let tz = parse_zone(zone_param, name)?;
                last = Some((name.to_string(), tz));
                tz
            }
        };
        shift(ts_param, s, tz).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMillisecondArray;

    const TS: Param = Param::new("f", 0, "ts");
    const ZONE: Param = Param::new("f", 1, "time_zone");

    fn millis(values: Vec<Option<i64>>, zone: Option<&str>) -> ColumnarValue {
        let array = TimestampMillisecondArray::from(values).with_timezone_opt(zone);
        ColumnarValue::Array(Arc::new(array))
    }

    fn zone(name: Option<&str>) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(name.map(str::to_string)))
    }

    fn local(ts: ColumnarValue, z: Option<ColumnarValue>) -> Result<Vec<Option<i64>>> {
        Ok(local_seconds(TS, ZONE, &ts, z.as_ref(), 3)?
            .iter()
            .collect())
    }

    // 2024-07-01T12:00:00Z = 1719835200 s:
    // python3 -c 'import datetime as d; print(int(d.datetime(2024,7,1,12,tzinfo=d.timezone.utc).timestamp()))'
    const NOON_UTC: i64 = 1_719_835_200;

    #[test]
    fn naive_is_wall_clock_and_floors_sub_seconds() {
        let got = local(
            millis(vec![Some(NOON_UTC * 1000 + 999), None, Some(-1)], None),
            None,
        )
        .unwrap();
        assert_eq!(got, [Some(NOON_UTC), None, Some(-1)]);
    }

    #[test]
    fn zone_argument_converts_utc_with_summer_time() {
        // London is on BST (+1) in July, Tokyo always +9.
        let ts = millis(vec![Some(NOON_UTC * 1000), None, Some(0)], None);
        let got = local(ts.clone(), Some(zone(Some("Europe/London")))).unwrap();
        assert_eq!(got, [Some(NOON_UTC + 3600), None, Some(3600)]);
        let got = local(ts, Some(zone(Some("Asia/Tokyo")))).unwrap();
        assert_eq!(got, [Some(NOON_UTC + 9 * 3600), None, Some(9 * 3600)]);
    }

    #[test]
    fn zoned_timestamp_uses_its_own_zone_unless_told() {
        let ts = millis(
            vec![Some(NOON_UTC * 1000), None, None],
            Some("America/New_York"),
        );
        assert_eq!(
            local(ts.clone(), None).unwrap()[0],
            Some(NOON_UTC - 4 * 3600)
        );
        assert_eq!(
            local(ts, Some(zone(Some("+05:30")))).unwrap()[0],
            Some(NOON_UTC + 5 * 3600 + 1800)
        );
    }

    #[test]
    fn null_zone_gives_null_and_bad_zone_names_argument() {
        let ts = millis(vec![Some(0), Some(1), Some(2)], None);
        assert_eq!(
            local(ts.clone(), Some(zone(None))).unwrap(),
            [None, None, None]
        );
        let err = local(ts, Some(zone(Some("Mars/Olympus")))).unwrap_err();
        assert!(
            err.to_string()
                .contains("f: argument 2 (time_zone) is not a known time zone: 'Mars/Olympus'"),
            "{err}"
        );
    }

    #[test]
    fn zone_per_row() {
        let ts = millis(vec![Some(0), Some(0), Some(0)], None);
        let names: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![
            Some("Europe/Berlin"),
            None,
            Some("UTC"),
        ]));
        let got = local(ts.clone(), Some(ColumnarValue::Array(names))).unwrap();
        assert_eq!(got, [Some(3600), None, Some(0)]);
        let bad: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![
            "UTC", "UTC", "Nowhere",
        ]));
        assert!(local(ts, Some(ColumnarValue::Array(bad))).is_err());
    }
}
