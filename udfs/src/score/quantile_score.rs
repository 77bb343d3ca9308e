//! `quantile_score(x [, bins [, direction]]) OVER (...)`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowNativeTypeOp, ArrowPrimitiveType, Int32Array, PrimitiveArray,
    downcast_primitive_array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, ReversedUDWF, Signature, Volatility, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion_macros::user_doc;

use super::{Direction, bins_arg, bins_type, direction_arg, direction_type, rankable_type};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "quantile_score";
const X: Param = Param::new(NAME, 0, "x");
const BINS: Param = Param::new(NAME, 1, "bins");
const DIRECTION: Param = Param::new(NAME, 2, "direction");

#[user_doc(
    doc_section(label = "Segmentation Functions"),
    description = "Scores each row from 1 to `bins` by where `x` ranks in its window partition: \
score = 1 + floor(bins * (rank - 1) / N), where rank is the lowest 1-based rank of x \
(ties share it, as with RANK()) and N is the number of non-NULL x in the partition. \
Equal values always get equal scores (unlike NTILE), so bins may be uneven; with fewer \
values than bins some scores go unused. NULL x scores NULL and is not counted in N. \
'asc' (default) gives larger values higher scores, 'desc' gives smaller values higher \
scores. Always scores the whole partition: ORDER BY and frame in OVER are ignored. Returns Int32.",
    syntax_example = "quantile_score(x [, bins [, direction]]) OVER ([PARTITION BY expr])",
    sql_example = r#"```sql
> SELECT customer, spend, quantile_score(spend, 4) OVER () AS q
  FROM (VALUES ('a', 10), ('b', 20), ('c', 20), ('d', 40), ('e', NULL)) AS t(customer, spend)
  ORDER BY customer;
+----------+-------+---+
| customer | spend | q |
+----------+-------+---+
| a        | 10    | 1 |
| b        | 20    | 2 |
| c        | 20    | 2 |
| d        | 40    | 4 |
| e        |       |   |
+----------+-------+---+
```"#,
    argument(
        name = "x",
        description = "Value to rank: any integer, float or decimal, a date, a time, a timestamp or a duration."
    ),
    argument(
        name = "bins",
        description = "Number of scores: a constant integer from 1 to 1000. Default 5."
    ),
    argument(
        name = "direction",
        description = "Constant 'asc' (default: larger x scores higher) or 'desc' (smaller x scores higher), any case."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct QuantileScore {
    signature: Signature,
}

impl QuantileScore {
    /// The `quantile_score` window function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[X, BINS, DIRECTION]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for QuantileScore {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowUDFImpl for QuantileScore {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 1..=3)?;
        let mut types = vec![rankable_type(X, &arg_types[0])?];
        if let Some(t) = arg_types.get(1) {
            types.push(bins_type(BINS, t)?);
        }
        if let Some(t) = arg_types.get(2) {
            types.push(direction_type(DIRECTION, t)?);
        }
        Ok(types)
    }

    /// Only `x` is evaluated per row; bins and direction are read once from
    /// the plan, so they are not materialized as columns.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(1).cloned().collect()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(QuantileScoreEvaluator {
            bins: bins_arg(BINS, args.input_exprs())?,
            direction: direction_arg(DIRECTION, args.input_exprs())?,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Field::new(field_args.name(), DataType::Int32, true).into())
    }

    /// Scores depend on values only, never on row order, so a plan may feed
    /// the partition in reverse order to save a sort.
    fn reverse_expr(&self) -> ReversedUDWF {
        ReversedUDWF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[derive(Debug)]
struct QuantileScoreEvaluator {
    bins: u32,
    direction: Direction,
}

impl PartitionEvaluator for QuantileScoreEvaluator {
    /// Not framed: the score of a row depends on the whole partition, so
    /// DataFusion must hand over all of it at once (`evaluate_all`).
    fn uses_window_frame(&self) -> bool {
        false
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], _num_rows: usize) -> Result<ArrayRef> {
        Ok(Arc::new(quantile_scores(
            &values[0],
            self.bins,
            self.direction,
        )?))
    }
}

/// The quantile score of every value of `values` among all of them:
/// `1 + floor(bins * (rank - 1) / n)` with `rank` the lowest 1-based rank of
/// the value in `direction` order and `n` the number of non-NULL values.
/// NULLs score NULL.
///
/// Floats are ordered as in `ORDER BY`: by IEEE total order, so NaN ranks
/// above every number and -0.0 just below 0.0.
///
/// O(n log n): one sort of (value, row) pairs, then one pass over it.
pub fn quantile_scores(values: &dyn Array, bins: u32, direction: Direction) -> Result<Int32Array> {
    if u32::try_from(values.len()).is_err() {
        return exec_err!(
            "{NAME}: a partition of {} rows is too large to score (at most {})",
            values.len(),
            u32::MAX
        );
    }
    downcast_primitive_array!(
        values => Ok(scores_of(values, bins, direction)),
        other => exec_err!("{NAME}: cannot rank values of type {other}")
    )
}

fn scores_of<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    bins: u32,
    direction: Direction,
) -> Int32Array {
    let values = array.values();
    // Row numbers fit in u32 (checked by the caller), which keeps pairs of
    // small values at 8 bytes.
    let mut order: Vec<(T::Native, u32)> = match array.nulls().filter(|n| n.null_count() > 0) {
        Some(nulls) => nulls
            .valid_indices()
            .map(|i| (values[i], i as u32))
            .collect(),
        None => values.iter().copied().zip(0u32..).collect(),
    };
    // Unstable is fine: rows with equal values get the same score anyway.
    match direction {
        Direction::Asc => order.sort_unstable_by(|a, b| a.0.compare(b.0)),
        Direction::Desc => order.sort_unstable_by(|a, b| b.0.compare(a.0)),
    }

    let n = order.len() as u64;
    let mut scores = vec![0i32; array.len()];
    let mut score = 1;
    for (position, &(value, row)) in order.iter().enumerate() {
        // A new run of equal values starts at its lowest rank; the run keeps
        // that rank's score.
        if position > 0 && !value.is_eq(order[position - 1].0) {
            score = score_at(position as u64, n, bins);
        }
        scores[row as usize] = score;
    }
    Int32Array::new(scores.into(), array.nulls().cloned())
}

/// The score of 0-based rank `rank0` among `n` values. `bins <= 1000` and
/// `rank0 < n <= u32::MAX`, so the product cannot overflow u64 and the
/// result (at most `bins`) fits i32.
fn score_at(rank0: u64, n: u64, bins: u32) -> i32 {
    (1 + u64::from(bins) * rank0 / n) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Date32Array, Decimal128Array, Float64Array, Int64Array, TimestampMicrosecondArray,
        UInt8Array,
    };

    /// SplitMix64: deterministic test data without a `rand` dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform-enough in `0..n` for test data.
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn scores(values: &dyn Array, bins: u32, direction: Direction) -> Vec<Option<i32>> {
        quantile_scores(values, bins, direction)
            .unwrap()
            .iter()
            .collect()
    }

    /// The definition, literally: rank by counting the values that come
    /// strictly before, O(n^2).
    fn reference(values: &[Option<i64>], bins: u32, direction: Direction) -> Vec<Option<i32>> {
        let n = values.iter().flatten().count() as u64;
        values
            .iter()
            .map(|v| {
                let v = (*v)?;
                let before = values
                    .iter()
                    .flatten()
                    .filter(|&&w| match direction {
                        Direction::Asc => w < v,
                        Direction::Desc => w > v,
                    })
                    .count() as u64;
                let rank = before + 1;
                Some((1 + (u64::from(bins) * (rank - 1)) / n) as i32)
            })
            .collect()
    }

    #[test]
    fn distinct_values_split_evenly() {
        // n = 10, bins = 5: ranks 1..10 -> 1 + floor(5 * (rank - 1) / 10).
        let x = Int64Array::from_iter_values([7, 1, 9, 3, 5, 2, 8, 4, 10, 6]);
        let got = scores(&x, 5, Direction::Asc);
        let want = [4, 1, 5, 2, 3, 1, 4, 2, 5, 3].map(Some);
        assert_eq!(got, want);
    }

    #[test]
    fn ties_share_the_lowest_rank() {
        // Sorted: 10, 20, 20, 20, 30, 40 (n = 6, bins = 3).
        // ranks: 10 -> 1, 20 -> 2, 30 -> 5, 40 -> 6
        // score = 1 + floor(3 * (rank - 1) / 6): 1, 1, 3, 3.
        // NTILE(3) would put the three 20s in two different tiles.
        let x = Int64Array::from_iter_values([20, 40, 10, 20, 30, 20]);
        assert_eq!(scores(&x, 3, Direction::Asc), [1, 3, 1, 1, 3, 1].map(Some));
    }

    #[test]
    fn all_equal_values_score_one() {
        let x = Int64Array::from_iter_values([5; 7]);
        assert_eq!(scores(&x, 5, Direction::Asc), [Some(1); 7]);
        assert_eq!(scores(&x, 5, Direction::Desc), [Some(1); 7]);
    }

    #[test]
    fn nulls_score_null_and_are_not_counted() {
        // Non-NULL: 3, 1, 2 (n = 3, bins = 3) -> scores equal ranks.
        let x = Int64Array::from(vec![None, Some(3), Some(1), None, Some(2)]);
        assert_eq!(
            scores(&x, 3, Direction::Asc),
            [None, Some(3), Some(1), None, Some(2)]
        );
        let all_null = Int64Array::from(vec![None, None]);
        assert_eq!(scores(&all_null, 5, Direction::Asc), [None, None]);
        assert!(scores(&Int64Array::from(Vec::<i64>::new()), 5, Direction::Asc).is_empty());
    }

    #[test]
    fn more_bins_than_values_leaves_scores_unused() {
        // n = 3, bins = 10: 1 + floor(10 * (rank - 1) / 3) -> 1, 4, 7.
        let x = Int64Array::from_iter_values([300, 100, 200]);
        assert_eq!(scores(&x, 10, Direction::Asc), [7, 1, 4].map(Some));
    }

    #[test]
    fn desc_reverses() {
        // desc ranks: 300 -> 1, 200 -> 2, 200 -> 2, 100 -> 4 (n = 4, bins = 4).
        let x = Int64Array::from_iter_values([100, 200, 300, 200]);
        assert_eq!(scores(&x, 4, Direction::Desc), [4, 2, 1, 2].map(Some));
        assert_eq!(scores(&x, 4, Direction::Asc), [1, 2, 4, 2].map(Some));
    }

    #[test]
    fn one_bin_scores_everything_one() {
        let x = Int64Array::from_iter_values([3, 1, 2]);
        assert_eq!(scores(&x, 1, Direction::Asc), [Some(1); 3]);
    }

    #[test]
    fn sliced_input_uses_its_own_rows() {
        let x = Int64Array::from(vec![Some(100), None, Some(3), Some(1), Some(2), Some(-5)]);
        let slice = x.slice(1, 4); // NULL, 3, 1, 2
        assert_eq!(
            scores(&slice, 3, Direction::Asc),
            [None, Some(3), Some(1), Some(2)]
        );
    }

    #[test]
    fn other_types_rank_by_value() {
        // Floats by total order: -1.5 < 0.0 < 2.5 < NaN.
        let f = Float64Array::from(vec![Some(2.5), None, Some(-1.5), Some(f64::NAN), Some(0.0)]);
        assert_eq!(
            scores(&f, 4, Direction::Asc),
            [Some(3), None, Some(1), Some(4), Some(2)]
        );
        let d = Decimal128Array::from(vec![Some(1999), Some(500), Some(1999)])
            .with_precision_and_scale(12, 2)
            .unwrap();
        // ranks: 19.99 -> 2 (tied), 5.00 -> 1; 1 + floor(3 * (rank - 1) / 3).
        assert_eq!(scores(&d, 3, Direction::Asc), [2, 1, 2].map(Some));
        let dates = Date32Array::from(vec![19000, 18000, 20000]);
        assert_eq!(scores(&dates, 3, Direction::Desc), [2, 3, 1].map(Some));
        let ts = TimestampMicrosecondArray::from(vec![5, 5, 1]).with_timezone("UTC");
        assert_eq!(scores(&ts, 3, Direction::Asc), [2, 2, 1].map(Some));
        let small = UInt8Array::from(vec![255, 0]);
        assert_eq!(scores(&small, 2, Direction::Asc), [2, 1].map(Some));
    }

    #[test]
    fn non_primitive_input_is_an_error() {
        let text = datafusion::arrow::array::StringArray::from(vec!["a"]);
        let err = quantile_scores(&text, 5, Direction::Asc).unwrap_err();
        assert!(
            err.to_string()
                .contains("quantile_score: cannot rank values of type Utf8")
        );
    }

    #[test]
    fn matches_brute_force_on_random_ties() {
        let mut rng = Rng(42);
        for case in 0..400 {
            let len = rng.below(60);
            // Few distinct values so most rows are tied with others.
            let distinct = 1 + rng.below(11);
            let null_percent = rng.below(40);
            let values: Vec<Option<i64>> = (0..len)
                .map(|_| (rng.below(100) >= null_percent).then(|| rng.below(distinct) as i64 - 3))
                .collect();
            let bins = [1, 2, 3, 5, 7, 10, 100][case % 7];
            let direction = if case % 2 == 0 {
                Direction::Asc
            } else {
                Direction::Desc
            };
            let array = Int64Array::from(values.clone());
            assert_eq!(
                scores(&array, bins, direction),
                reference(&values, bins, direction),
                "values {values:?}, bins {bins}, {direction:?}"
            );
        }
    }

    #[test]
    fn scores_are_monotone_in_value() {
        // Equal values share a score and a larger value never scores lower.
        let mut rng = Rng(7);
        let values: Vec<i64> = (0..2000).map(|_| rng.below(300) as i64).collect();
        let got = scores(&Int64Array::from(values.clone()), 10, Direction::Asc);
        let mut pairs: Vec<(i64, i32)> = values
            .iter()
            .zip(&got)
            .map(|(v, s)| (*v, s.unwrap()))
            .collect();
        pairs.sort();
        for w in pairs.windows(2) {
            assert!(w[0].1 <= w[1].1);
            if w[0].0 == w[1].0 {
                assert_eq!(w[0].1, w[1].1);
            }
        }
        assert_eq!(pairs.first().unwrap().1, 1);
        assert!(pairs.last().unwrap().1 <= 10);
    }
}
