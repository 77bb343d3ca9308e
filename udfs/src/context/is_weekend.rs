//! `is_weekend(ts [, time_zone])`: whether a moment falls on a Saturday or Sunday.

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{SECONDS_PER_DAY, local_seconds, timestamp_type, zone_type};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "is_weekend";
const TS: Param = Param::new(NAME, 0, "ts");
const ZONE: Param = Param::new(NAME, 1, "time_zone");

#[user_doc(
    doc_section(label = "Context Functions"),
    description = "True if the timestamp falls on a Saturday or a Sunday of its wall-clock date, \
false otherwise. A timestamp without a zone is taken as local wall-clock time; one with a zone \
is read in its own zone. With time_zone, the instant (a timestamp without a zone taken as UTC) \
is first converted to that zone, so late Friday UTC can be Saturday in Asia. NULL if ts or \
time_zone is NULL; an unknown zone name is an error naming the argument.",
    syntax_example = "is_weekend(ts [, time_zone])",
    sql_example = r#"```sql
> SELECT is_weekend(TIMESTAMP '2024-07-05 20:00:00') AS friday,
         is_weekend(TIMESTAMP '2024-07-05 20:00:00', 'Asia/Tokyo') AS in_tokyo;
+--------+----------+
| friday | in_tokyo |
+--------+----------+
| false  | true     |
+--------+----------+
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
pub struct IsWeekend {
    signature: Signature,
}

impl IsWeekend {
    /// The `is_weekend` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[TS, ZONE]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for IsWeekend {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for IsWeekend {
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
        Ok(DataType::Boolean)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seconds = local_seconds(TS, ZONE, &args.args[0], args.args.get(1), args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(weekends(&seconds))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Day 0 of the epoch, 1970-01-01, was a Thursday: with Monday as 0 it is
/// weekday 3, so a day's weekday is `(day + 3) mod 7` and 5, 6 are the weekend.
fn weekends(seconds: &Int64Array) -> BooleanArray {
    seconds
        .iter()
        .map(|s| {
            let day = s?.div_euclid(SECONDS_PER_DAY);
            Some((day + 3).rem_euclid(7) >= 5)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_around_the_epoch_and_before_it() {
        // 1970-01-03 was a Saturday, 1970-01-05 a Monday; 1969-12-28 a Sunday,
        // 1969-12-26 a Friday:
        // python3 -c 'import datetime as d; print([(d.date(1970,1,1)+d.timedelta(n)).strftime("%a") for n in (-6,-4,2,4)])'
        let day = |n: i64| Some(n * SECONDS_PER_DAY + 3600);
        let seconds = Int64Array::from(vec![day(-6), day(-4), day(2), day(4), None]);
        let got: Vec<Option<bool>> = weekends(&seconds).iter().collect();
        assert_eq!(
            got,
            [Some(false), Some(true), Some(true), Some(false), None]
        );
    }

    #[test]
    fn saturday_runs_midnight_to_midnight() {
        // 1970-01-03 00:00:00 and 23:59:59 are Saturday, one second before is Friday.
        let sat = 2 * SECONDS_PER_DAY;
        let seconds = Int64Array::from(vec![sat - 1, sat, sat + SECONDS_PER_DAY - 1]);
        let got: Vec<Option<bool>> = weekends(&seconds).iter().collect();
        assert_eq!(got, [Some(false), Some(true), Some(true)]);
    }
}
