//! `daypart(ts [, time_zone])`: the part of the day a moment falls in.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{SECONDS_PER_DAY, local_seconds, timestamp_type, zone_type};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "daypart";
const TS: Param = Param::new(NAME, 0, "ts");
const ZONE: Param = Param::new(NAME, 1, "time_zone");

/// The first hour of each part, in order; a part lasts until the next one
/// starts. The cut points follow the rhythm the personas of our lake shop in:
/// 5–7h is the commute and the early feed, 8–11h the working morning,
/// 12–16h lunch and afternoon, 17–23h after work.
const PARTS: [(u32, &str); 5] = [
    (0, "night"),
    (5, "early_morning"),
    (8, "morning"),
    (12, "afternoon"),
    (17, "evening"),
];

/// The daypart of wall-clock hour `hour` (0..=23): night 0–4h,
/// early_morning 5–7h, morning 8–11h, afternoon 12–16h, evening 17–23h.
pub fn daypart_of_hour(hour: u32) -> &'static str {
    PARTS
        .iter()
        .rev()
        .find(|(start, _)| hour >= *start)
        .map_or(PARTS[0].1, |(_, label)| label)
}

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "The part of the day a timestamp falls in, by its wall-clock hour: \
'night' (00:00-04:59), 'early_morning' (05:00-07:59), 'morning' (08:00-11:59), \
'afternoon' (12:00-16:59) or 'evening' (17:00-23:59). A timestamp without a zone is taken as \
local wall-clock time; one with a zone is read in its own zone. With time_zone, the instant \
(a timestamp without a zone taken as UTC) is first converted to that zone, daylight saving \
included. NULL if ts or time_zone is NULL; an unknown zone name is an error naming the argument.",
    syntax_example = "daypart(ts [, time_zone])",
    sql_example = r#"```sql
> SELECT daypart(TIMESTAMP '2024-07-01 06:30:00') AS local,
         daypart(TIMESTAMP '2024-07-01 06:30:00', 'America/New_York') AS new_york;
+---------------+----------+
| local         | new_york |
+---------------+----------+
| early_morning | night    |
+---------------+----------+
```"#,
    argument(
        name = "ts",
        description = "A timestamp of any unit, with or without a time zone."
    ),
    argument(
        name = "time_zone",
        description = "Optional IANA time zone name such as 'Europe/London', or a fixed offset such as '+01:00'."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Daypart {
    signature: Signature,
}

impl Daypart {
    /// The `daypart` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[TS, ZONE]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for Daypart {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Daypart {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 1..=2)?;
        let mut types = vec![timestamp_type(TS, &arg_types[0])?];
        if let Some(zone) = arg_types.get(1) {
            types.push(zone_type(ZONE, zone)?);
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seconds = local_seconds(TS, ZONE, &args.args[0], args.args.get(1), args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(dayparts(&seconds))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The dayparts of wall-clock seconds since 1970-01-01 00:00.
fn dayparts(seconds: &Int64Array) -> StringArray {
    seconds
        .iter()
        .map(|s| {
            let hour = s?.rem_euclid(SECONDS_PER_DAY) / 3600;
            Some(daypart_of_hour(hour as u32))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hour_has_its_documented_part() {
        let expected = [
            (0..=4, "night"),
            (5..=7, "early_morning"),
            (8..=11, "morning"),
            (12..=16, "afternoon"),
            (17..=23, "evening"),
        ];
        for (hours, label) in expected {
            for hour in hours {
                assert_eq!(daypart_of_hour(hour), label, "hour {hour}");
            }
        }
    }

    #[test]
    fn seconds_before_1970_and_nulls() {
        // -1 s is 1969-12-31 23:59:59; -68400 s is 1969-12-31 05:00:00.
        let seconds = Int64Array::from(vec![Some(-1), Some(-68_400), None, Some(8 * 3600)]);
        let parts = dayparts(&seconds);
        let got: Vec<Option<&str>> = parts.iter().collect();
        assert_eq!(
            got,
            [
                Some("evening"),
                Some("early_morning"),
                None,
                Some("morning")
            ]
        );
    }
}
