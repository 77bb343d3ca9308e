//! `interpurchase_stats(ts)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{MICROS_PER_DAY, timestamp_type, timestamps};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "interpurchase_stats";
const TS: Param = Param::new(NAME, 0, "ts");

#[user_doc(
    doc_section(label = "Journey Functions"),
    description = "Purchase rhythm of a group: a struct {n, mean_gap_days, median_gap_days, \
last_gap_days}. n (Int64) is the number of non-NULL ts (every row is one purchase, equal times \
included); the gaps are the differences between consecutive times after sorting, in days \
(Float64, fractional: 36 hours is 1.5). mean_gap_days is their mean, median_gap_days their median \
(the mean of the middle two for an even count), last_gap_days the gap before the latest purchase. \
The gap fields are NULL when n < 2. No ClickHouse counterpart.",
    syntax_example = "interpurchase_stats(ts)",
    sql_example = r#"```sql
> SELECT interpurchase_stats(d) AS s
  FROM (VALUES (DATE '2026-01-01'), (DATE '2026-01-11'), (DATE '2026-01-13')) AS t(d);
+-------------------------------------------------------------------+
| s                                                                 |
+-------------------------------------------------------------------+
| {n: 3, mean_gap_days: 6.0, median_gap_days: 6.0, last_gap_days: 2.0} |
+-------------------------------------------------------------------+
```"#,
    argument(
        name = "ts",
        description = "Purchase time: a timestamp of any unit, with or without time zone, or a date (midnight)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InterpurchaseStats {
    signature: Signature,
}

impl InterpurchaseStats {
    /// The `interpurchase_stats` aggregate function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[TS]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for InterpurchaseStats {
    fn default() -> Self {
        Self::new()
    }
}

fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("mean_gap_days", DataType::Float64, true),
        Field::new("median_gap_days", DataType::Float64, true),
        Field::new("last_gap_days", DataType::Float64, true),
    ])
}

impl AggregateUDFImpl for InterpurchaseStats {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 1..=1)?;
        Ok(vec![timestamp_type(TS, &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(InterpurchaseAccumulator::default()))
    }

    /// The gaps need every time in order, so the state is the times.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(
                format!("{}[ts]", args.name),
                DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
                true,
            )
            .into(),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The statistics of one group; gap fields are `None` below two purchases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GapStats {
    /// Number of purchases.
    pub n: i64,
    /// Mean gap in days.
    pub mean: Option<f64>,
    /// Median gap in days.
    pub median: Option<f64>,
    /// The gap before the latest purchase, in days.
    pub last: Option<f64>,
}

/// The gap statistics of `times` (microseconds, any order); sorts them.
pub fn gap_stats(times: &mut [i64]) -> GapStats {
    times.sort_unstable();
    let mut gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / MICROS_PER_DAY as f64)
        .collect();
    let n = times.len() as i64;
    let Some(&last) = gaps.last() else {
        return GapStats {
            n,
            mean: None,
            median: None,
            last: None,
        };
    };
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    gaps.sort_unstable_by(f64::total_cmp);
    let mid = gaps.len() / 2;
    let median = if gaps.len() % 2 == 1 {
        gaps[mid]
    } else {
        (gaps[mid - 1] + gaps[mid]) / 2.0
    };
    GapStats {
        n,
        mean: Some(mean),
        median: Some(median),
        last: Some(last),
    }
}

#[derive(Debug, Default)]
struct InterpurchaseAccumulator {
    times: Vec<i64>,
}

impl Accumulator for InterpurchaseAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.times.extend(timestamps(&values[0])?.iter().flatten());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let stats = gap_stats(&mut self.times);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![stats.n])),
            Arc::new(Float64Array::from(vec![stats.mean])),
            Arc::new(Float64Array::from(vec![stats.median])),
            Arc::new(Float64Array::from(vec![stats.last])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            result_fields(),
            columns,
            None,
        )?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.times.capacity() * std::mem::size_of::<i64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let times = Int64Array::from_iter_values(self.times.iter().copied());
        Ok(vec![
            SingleRowListArrayBuilder::new(Arc::new(times)).build_list_scalar(),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return internal_err!("{NAME}: state must be a list");
        };
        let values = lists.values().as_primitive::<Int64Type>().values();
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                let range =
                    lists.value_offsets()[row] as usize..lists.value_offsets()[row + 1] as usize;
                self.times.extend_from_slice(&values[range]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMicrosecondArray;

    const DAY: i64 = MICROS_PER_DAY;

    #[test]
    fn gaps_in_days() {
        // Sorted: 0, 10, 12 days: gaps 10 and 2.
        let s = gap_stats(&mut [12 * DAY, 0, 10 * DAY]);
        assert_eq!(
            s,
            GapStats {
                n: 3,
                mean: Some(6.0),
                median: Some(6.0),
                last: Some(2.0)
            }
        );
        // Gaps 1, 1, 7 (odd count): median 1, mean 3, last 7; 36 h is 1.5 days.
        let s = gap_stats(&mut [0, DAY, 2 * DAY, 9 * DAY]);
        assert_eq!(
            (s.mean, s.median, s.last),
            (Some(3.0), Some(1.0), Some(7.0))
        );
        assert_eq!(gap_stats(&mut [0, 36 * DAY / 24]).last, Some(1.5));
    }

    #[test]
    fn fewer_than_two_purchases_have_no_gaps() {
        assert_eq!(
            gap_stats(&mut []),
            GapStats {
                n: 0,
                mean: None,
                median: None,
                last: None
            }
        );
        assert_eq!(gap_stats(&mut [5]).n, 1);
        assert_eq!(gap_stats(&mut [5]).mean, None);
        // Equal times are two purchases with a zero gap.
        assert_eq!(gap_stats(&mut [5, 5]).last, Some(0.0));
    }

    #[test]
    fn merged_partial_states_equal_one_pass() {
        let times: Vec<Option<i64>> = (0..50)
            .map(|i| (i % 7 != 3).then_some((i * 7919 % 101) * DAY / 3))
            .collect();
        let array = |t: &[Option<i64>]| -> Vec<ArrayRef> {
            vec![Arc::new(TimestampMicrosecondArray::from(t.to_vec()))]
        };
        let mut whole = InterpurchaseAccumulator::default();
        whole.update_batch(&array(&times)).unwrap();
        let mut merged = InterpurchaseAccumulator::default();
        for part in times.chunks(9) {
            let mut partial = InterpurchaseAccumulator::default();
            partial.update_batch(&array(part)).unwrap();
            let state: Vec<ArrayRef> = partial
                .state()
                .unwrap()
                .iter()
                .map(|s| s.to_array().unwrap())
                .collect();
            merged.merge_batch(&state).unwrap();
        }
        assert_eq!(merged.evaluate().unwrap(), whole.evaluate().unwrap());
        assert_eq!(gap_stats(&mut merged.times).n, 43);
    }
}
