//! `sessionize(ts, gap) OVER (PARTITION BY … ORDER BY ts)`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion_macros::user_doc;

use super::{duration_arg, duration_type, timestamp_type, timestamps};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "sessionize";
const TS: Param = Param::new(NAME, 0, "ts");
const GAP: Param = Param::new(NAME, 1, "gap");

#[user_doc(
    doc_section(label = "Journey Functions"),
    description = "The session number of each row within its window partition, starting at 1: a new \
session starts when the time since the previous row is more than `gap` (a gap of exactly `gap` \
stays in the session). Rows with equal times share a session. Requires the partition to be ordered \
by ts ascending (`ORDER BY ts`): rows reaching the function out of time order are an error. \
Rows with a NULL ts get a NULL session and don't split sessions. The frame is ignored. \
Returns Int64.",
    syntax_example = "sessionize(ts, gap) OVER (PARTITION BY customer_id ORDER BY ts)",
    sql_example = r#"```sql
> SELECT ts, sessionize(ts, INTERVAL '30 minutes') OVER (ORDER BY ts) AS session
  FROM (VALUES (TIMESTAMP '2026-01-01 10:00:00'), (TIMESTAMP '2026-01-01 10:20:00'),
               (TIMESTAMP '2026-01-01 11:00:00')) AS t(ts);
+---------------------+---------+
| ts                  | session |
+---------------------+---------+
| 2026-01-01T10:00:00 | 1       |
| 2026-01-01T10:20:00 | 1       |
| 2026-01-01T11:00:00 | 2       |
+---------------------+---------+
```"#,
    argument(
        name = "ts",
        description = "Event time: a timestamp of any unit, with or without time zone, or a date (midnight)."
    ),
    argument(
        name = "gap",
        description = "Constant: the longest pause within a session, as an INTERVAL of days, hours, \
minutes or seconds (not months or years), a DURATION, or a number of seconds."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sessionize {
    signature: Signature,
}

impl Sessionize {
    /// The `sessionize` window function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[TS, GAP]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for Sessionize {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowUDFImpl for Sessionize {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 2..=2)?;
        Ok(vec![
            timestamp_type(TS, &arg_types[0])?,
            duration_type(GAP, &arg_types[1])?,
        ])
    }

    /// The gap is read once from the plan, so only ts is evaluated per row.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(1).cloned().collect()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(SessionizeEvaluator {
            gap: duration_arg(GAP, args.input_exprs())?,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Field::new(field_args.name(), DataType::Int64, true).into())
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[derive(Debug)]
struct SessionizeEvaluator {
    gap: i64,
}

impl PartitionEvaluator for SessionizeEvaluator {
    /// Not framed: a row's session depends on every earlier row of the
    /// partition, whatever frame the query asks for.
    fn uses_window_frame(&self) -> bool {
        false
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], _num_rows: usize) -> Result<ArrayRef> {
        let ts = timestamps(&values[0])?;
        let Some(sessions) = session_numbers(ts.iter(), self.gap) else {
            return exec_err!(
                "{NAME}: rows must be in ascending time order: \
use OVER (PARTITION BY … ORDER BY ts) with the same ts as argument 1"
            );
        };
        Ok(Arc::new(sessions))
    }
}

/// The session number of each time in `times` (microseconds, ascending,
/// NULLs anywhere) with sessions split where the pause exceeds `gap`.
/// `None` when the times are not in ascending order.
pub fn session_numbers(times: impl Iterator<Item = Option<i64>>, gap: i64) -> Option<Int64Array> {
    let mut session = 0i64;
    let mut previous: Option<i64> = None;
    let mut out = Vec::with_capacity(times.size_hint().0);
    for t in times {
        let Some(t) = t else {
            out.push(None);
            continue;
        };
        match previous {
            Some(p) if t < p => return None,
            Some(p) if t.saturating_sub(p) <= gap => {}
            _ => session += 1,
        }
        previous = Some(t);
        out.push(Some(session));
    }
    Some(Int64Array::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(times: &[Option<i64>], gap: i64) -> Option<Vec<Option<i64>>> {
        session_numbers(times.iter().copied(), gap).map(|a| a.iter().collect())
    }

    #[test]
    fn splits_on_long_pauses() {
        let got = sessions(
            &[Some(0), Some(10), Some(20), Some(31), Some(31), Some(100)],
            10,
        );
        // 0 -> 10 -> 20 are 10 apart (not more than the gap), 31 is 11 after 20.
        assert_eq!(got.unwrap(), [1, 1, 1, 2, 2, 3].map(Some));
        assert_eq!(sessions(&[Some(5)], 0).unwrap(), [Some(1)]);
        assert_eq!(sessions(&[], 0).unwrap(), Vec::<Option<i64>>::new());
        // A zero gap splits at every change of time.
        assert_eq!(
            sessions(&[Some(1), Some(1), Some(2)], 0).unwrap(),
            [1, 1, 2].map(Some)
        );
    }

    #[test]
    fn nulls_are_skipped() {
        assert_eq!(
            sessions(&[None, Some(0), None, Some(5), Some(50), None], 10).unwrap(),
            [None, Some(1), None, Some(1), Some(2), None]
        );
    }

    #[test]
    fn unordered_input_is_refused() {
        assert!(sessions(&[Some(5), Some(1)], 10).is_none());
    }
}
