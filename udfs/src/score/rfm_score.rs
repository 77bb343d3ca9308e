//! `rfm_score(recency_days, frequency, monetary [, bins]) OVER (...)`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, ReversedUDWF, Signature, Volatility, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion_macros::user_doc;

use super::{Direction, bins_arg, bins_type, quantile_scores, rankable_type};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "rfm_score";
const RECENCY: Param = Param::new(NAME, 0, "recency_days");
const FREQUENCY: Param = Param::new(NAME, 1, "frequency");
const MONETARY: Param = Param::new(NAME, 2, "monetary");
const BINS: Param = Param::new(NAME, 3, "bins");

/// The ranked inputs and the direction of each: the most recent customers
/// (fewest days since their last purchase) get the highest r.
const COMPONENTS: [(Param, Direction); 3] = [
    (RECENCY, Direction::Desc),
    (FREQUENCY, Direction::Asc),
    (MONETARY, Direction::Asc),
];

#[user_doc(
    doc_section(label = "Segmentation Functions"),
    description = "RFM scores of each row within its window partition, as a struct {r, f, m} of Int32. \
Each is the quantile_score of its input with the same bins: 1 + floor(bins * (rank - 1) / N), ties \
sharing the lowest rank. r ranks recency_days descending, so the fewest days since the last purchase \
(the most recent customers) get the highest r; f and m rank frequency and monetary ascending. A score \
is NULL where its input is NULL, and N counts the non-NULL values of that input only. The struct \
itself is never NULL. Always scores the whole partition: ORDER BY and frame in OVER are ignored.",
    syntax_example = "rfm_score(recency_days, frequency, monetary [, bins]) OVER ([PARTITION BY expr])",
    sql_example = r#"```sql
> SELECT customer, rfm_score(days, orders, spend, 3) OVER () AS rfm
  FROM (VALUES ('a', 5, 10, 500.0), ('b', 40, 2, 80.0), ('c', 200, 1, 20.0))
       AS t(customer, days, orders, spend)
  ORDER BY customer;
+----------+--------------------+
| customer | rfm                |
+----------+--------------------+
| a        | {r: 3, f: 3, m: 3} |
| b        | {r: 2, f: 2, m: 2} |
| c        | {r: 1, f: 1, m: 1} |
+----------+--------------------+
```"#,
    argument(
        name = "recency_days",
        description = "Days (or any measure) since the last purchase: smaller is more recent and scores higher. Numeric, or a duration."
    ),
    argument(
        name = "frequency",
        description = "Number of purchases: larger scores higher. Numeric."
    ),
    argument(
        name = "monetary",
        description = "Amount spent: larger scores higher. Numeric."
    ),
    argument(
        name = "bins",
        description = "Number of scores per component: a constant integer from 1 to 1000. Default 5."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmScore {
    signature: Signature,
}

impl RfmScore {
    /// The `rfm_score` window function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[RECENCY, FREQUENCY, MONETARY, BINS]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }

    /// The struct returned: one nullable Int32 per component.
    fn fields() -> Fields {
        ["r", "f", "m"]
            .into_iter()
            .map(|name| Field::new(name, DataType::Int32, true))
            .collect()
    }
}

impl Default for RfmScore {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowUDFImpl for RfmScore {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 3..=4)?;
        let mut types = COMPONENTS
            .iter()
            .zip(arg_types)
            .map(|((param, _), t)| rankable_type(*param, t))
            .collect::<Result<Vec<_>>>()?;
        if let Some(t) = arg_types.get(3) {
            types.push(bins_type(BINS, t)?);
        }
        Ok(types)
    }

    /// The three ranked inputs are evaluated per row; bins is read once from
    /// the plan.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(3).cloned().collect()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(RfmScoreEvaluator {
            bins: bins_arg(BINS, args.input_exprs())?,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Field::new(field_args.name(), DataType::Struct(Self::fields()), false).into())
    }

    /// Scores depend on values only, never on row order.
    fn reverse_expr(&self) -> ReversedUDWF {
        ReversedUDWF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[derive(Debug)]
struct RfmScoreEvaluator {
    bins: u32,
}

impl PartitionEvaluator for RfmScoreEvaluator {
    /// Not framed: scores depend on the whole partition.
    fn uses_window_frame(&self) -> bool {
        false
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], _num_rows: usize) -> Result<ArrayRef> {
        let scores = COMPONENTS
            .iter()
            .zip(values)
            .map(|((_, direction), v)| {
                Ok(Arc::new(quantile_scores(v, self.bins, *direction)?) as ArrayRef)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(StructArray::try_new(
            RfmScore::fields(),
            scores,
            None,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Float64Array, Int64Array};
    use datafusion::arrow::datatypes::Int32Type;

    fn component(rfm: &ArrayRef, name: &str) -> Vec<Option<i32>> {
        let rfm = rfm.as_struct();
        rfm.column_by_name(name)
            .unwrap()
            .as_primitive::<Int32Type>()
            .iter()
            .collect()
    }

    #[test]
    fn recency_is_reversed_frequency_and_monetary_are_not() {
        // n = 4, bins = 4, so every score equals its rank.
        let days: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(3),
            Some(30),
            None,
            Some(300),
            Some(30),
        ]));
        let orders: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(9),
            Some(2),
            Some(1),
            Some(1),
            None,
        ]));
        let spend: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(900.0),
            Some(50.0),
            Some(10.0),
            Some(20.0),
            Some(30.0),
        ]));
        let rfm = RfmScoreEvaluator { bins: 4 }
            .evaluate_all(&[days, orders, spend], 5)
            .unwrap();
        assert_eq!(rfm.null_count(), 0);
        // desc ranks of days: 300 -> 1, 30 -> 2 (x2), 3 -> 4; n = 4.
        assert_eq!(
            component(&rfm, "r"),
            [Some(4), Some(2), None, Some(1), Some(2)]
        );
        // asc ranks of orders: 1 -> 1 (x2), 2 -> 3, 9 -> 4; n = 4.
        assert_eq!(
            component(&rfm, "f"),
            [Some(4), Some(3), Some(1), Some(1), None]
        );
        // asc ranks of spend among 5: 10, 20, 30, 50, 900 with bins 4:
        // 1 + floor(4 * (rank - 1) / 5) -> ranks 1..5 give 1, 1, 2, 3, 4.
        assert_eq!(
            component(&rfm, "m"),
            [Some(4), Some(3), Some(1), Some(1), Some(2)]
        );
    }
}
