//! `micro_segment(min_size, dim1, …, dimN) OVER (...)`: the most specific
//! cell of a row that still holds at least `min_size` rows.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, ReversedUDWF, Signature, Volatility, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, TryCastExpr};
use datafusion_macros::user_doc;

use crate::common::{Param, arity_error};

const NAME: &str = "micro_segment";
const MIN_SIZE: Param = Param::new(NAME, 0, "min_size");

/// More dimensions than this is a cross-tab, not a segment label.
pub const MAX_DIMENSIONS: usize = 16;

#[user_doc(
    doc_section(label = "Segmentation Functions"),
    description = "Labels each row with the most specific cell of its dimensions that holds at \
least `min_size` rows of the window partition, such as 'city=Leeds|channel=app|cluster=*'. \
Rule: with N dimensions, the level-L cell of a row is the set of partition rows that share its \
first L dimension values. Try L = N, N-1, …, 1 and take the first cell with at least min_size \
rows; dimensions after L are written as '*'. If no level qualifies the label is the root, every \
dimension '*', even when the partition has fewer than min_size rows. So every label except the \
root names a cell of at least min_size rows (a privacy floor), and dimensions are given up from \
the last, so list them from most to least important. Rows carrying a coarse label can be fewer \
than min_size: the rest of its cell carry finer labels. NULL is a value of its own, written \
NULL. Dimension names are the column names (the expression text for other expressions). \
Ignores ORDER BY and frame. Returns Utf8.",
    syntax_example = "micro_segment(min_size, dim1 [, dim2, …]) OVER ([PARTITION BY expr])",
    sql_example = r#"```sql
> SELECT id, micro_segment(2, city, channel) OVER () AS cell
  FROM (VALUES (1, 'Leeds', 'app'), (2, 'Leeds', 'app'), (3, 'Leeds', 'web'), (4, 'York', 'web'))
       AS t(id, city, channel)
  ORDER BY id;
+----+-------------------------+
| id | cell                    |
+----+-------------------------+
| 1  | city=Leeds|channel=app  |
| 2  | city=Leeds|channel=app  |
| 3  | city=Leeds|channel=*    |
| 4  | city=*|channel=*        |
+----+-------------------------+
```"#,
    argument(
        name = "min_size",
        description = "Smallest cell a label may name: a constant integer ≥ 1."
    ),
    argument(
        name = "dim1, dim2, …",
        description = "1 to 16 dimensions, most important first: text, numbers, booleans or dates (compared as text)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MicroSegment {
    signature: Signature,
}

impl MicroSegment {
    /// The `micro_segment` window function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for MicroSegment {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowUDFImpl for MicroSegment {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 || arg_types.len() > MAX_DIMENSIONS + 1 {
            return Err(arity_error(
                NAME,
                &format!(
                    "2 to {} (min_size and 1 to {MAX_DIMENSIONS} dimensions)",
                    MAX_DIMENSIONS + 1
                ),
                arg_types.len(),
            ));
        }
        let min_size = &arg_types[0];
        if !(min_size.is_integer() || min_size.is_null()) {
            return Err(MIN_SIZE.error(format_args!("must be an integer ≥ 1, got type {min_size}")));
        }
        let mut types = vec![DataType::Int64];
        for (i, t) in arg_types.iter().enumerate().skip(1) {
            types.push(dimension_type(i, t)?);
        }
        Ok(types)
    }

    /// min_size is read once from the plan; only the dimensions are columns.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().skip(1).cloned().collect()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let min_size = min_size_arg(args.input_exprs())?;
        let names = args.input_exprs()[1..].iter().map(dimension_name).collect();
        Ok(Box::new(MicroSegmentEvaluator { min_size, names }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Field::new(field_args.name(), DataType::Utf8, false).into())
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        ReversedUDWF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Dimensions are compared and printed as text; anything with a faithful
/// text form qualifies.
fn dimension_type(index: usize, data_type: &DataType) -> Result<DataType> {
    use DataType::*;
    let ok = match data_type {
        Dictionary(_, value) => return dimension_type(index, value),
        Null | Boolean | Utf8 | LargeUtf8 | Utf8View | Date32 | Date64 | Timestamp(_, _) => true,
        t => t.is_integer() || t.is_floating() || matches!(t, Decimal128(_, _) | Decimal256(_, _)),
    };
    if ok {
        Ok(DataType::Utf8)
    } else {
        Err(Param::new(NAME, index, "dimension").error(format_args!(
            "must be text, a number, a boolean or a date, got type {data_type}"
        )))
    }
}

fn min_size_arg(args: &[Arc<dyn PhysicalExpr>]) -> Result<u64> {
    let value = MIN_SIZE
        .literal(args)?
        .cloned()
        .unwrap_or(ScalarValue::Null);
    match value.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(n))) if n >= 1 => Ok(n as u64),
        _ => Err(MIN_SIZE.error(format_args!("must be an integer ≥ 1, got {value}"))),
    }
}

/// The column a dimension reads, looking through the casts type coercion
/// adds, so labels say `cluster=7` rather than `CAST(cluster AS Utf8)=7`.
fn dimension_name(expr: &Arc<dyn PhysicalExpr>) -> String {
    if let Some(column) = expr.downcast_ref::<Column>() {
        return column.name().to_string();
    }
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        return dimension_name(cast.expr());
    }
    if let Some(cast) = expr.downcast_ref::<TryCastExpr>() {
        return dimension_name(cast.expr());
    }
    expr.to_string()
}

#[derive(Debug)]
struct MicroSegmentEvaluator {
    min_size: u64,
    names: Vec<String>,
}

impl PartitionEvaluator for MicroSegmentEvaluator {
    /// Cell sizes depend on the whole partition.
    fn uses_window_frame(&self) -> bool {
        false
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        Ok(Arc::new(micro_segments(
            values,
            &self.names,
            self.min_size,
            num_rows,
        )))
    }
}

/// Labels every row of `dims` (Utf8 columns named by `names`) by the rule
/// in the function's documentation.
///
/// Each value is interned to a small id per dimension; a level-L cell is
/// then the first L ids, counted in one hash map per level. O(rows × N).
pub fn micro_segments(
    dims: &[ArrayRef],
    names: &[String],
    min_size: u64,
    num_rows: usize,
) -> datafusion::arrow::array::StringArray {
    let n = dims.len();
    // ids[d][row]: the row's value id in dimension d (0 is NULL).
    let mut values: Vec<Vec<Option<String>>> = Vec::with_capacity(n);
    let mut ids: Vec<Vec<u32>> = Vec::with_capacity(n);
    for dim in dims {
        let strings = dim.as_string::<i32>();
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut seen: Vec<Option<String>> = vec![None];
        let column: Vec<u32> = (0..num_rows)
            .map(|row| {
                if strings.is_null(row) {
                    return 0;
                }
                let value = strings.value(row);
                *index.entry(value).or_insert_with(|| {
                    seen.push(Some(value.to_string()));
                    (seen.len() - 1) as u32
                })
            })
            .collect();
        values.push(seen);
        ids.push(column);
    }

    let key = |row: usize, level: usize| -> Vec<u32> { (0..level).map(|d| ids[d][row]).collect() };
    let mut counts: Vec<HashMap<Vec<u32>, u64>> = vec![HashMap::new(); n + 1];
    for row in 0..num_rows {
        for (level, level_counts) in counts.iter_mut().enumerate().skip(1) {
            *level_counts.entry(key(row, level)).or_default() += 1;
        }
    }

    let mut out = StringBuilder::with_capacity(num_rows, num_rows * 16 * n);
    let mut label = String::new();
    for row in 0..num_rows {
        let level = (1..=n)
            .rev()
            .find(|&level| counts[level][&key(row, level)] >= min_size)
            .unwrap_or(0);
        label.clear();
        for d in 0..n {
            if d > 0 {
                label.push('|');
            }
            label.push_str(&names[d]);
            label.push('=');
            if d < level {
                match &values[d][ids[d][row] as usize] {
                    Some(v) => label.push_str(v),
                    None => label.push_str("NULL"),
                }
            } else {
                label.push('*');
            }
        }
        out.append_value(&label);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;

    fn labels(dims: Vec<Vec<Option<&str>>>, names: &[&str], min_size: u64) -> Vec<String> {
        let rows = dims[0].len();
        let arrays: Vec<ArrayRef> = dims
            .into_iter()
            .map(|d| Arc::new(StringArray::from(d)) as ArrayRef)
            .collect();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        micro_segments(&arrays, &names, min_size, rows)
            .iter()
            .map(|s| s.unwrap().to_string())
            .collect()
    }

    #[test]
    fn backs_off_from_the_last_dimension() {
        // Leeds/app has 2 rows (kept); Leeds/web has 1, Leeds has 3 (city kept);
        // York has 1 (root).
        let got = labels(
            vec![
                vec![Some("Leeds"), Some("Leeds"), Some("Leeds"), Some("York")],
                vec![Some("app"), Some("app"), Some("web"), Some("web")],
            ],
            &["city", "channel"],
            2,
        );
        assert_eq!(
            got,
            [
                "city=Leeds|channel=app",
                "city=Leeds|channel=app",
                "city=Leeds|channel=*",
                "city=*|channel=*"
            ]
        );
    }

    #[test]
    fn min_size_one_keeps_every_full_cell_and_nulls_are_values() {
        let got = labels(
            vec![
                vec![Some("a"), None, None],
                vec![Some("x"), Some("y"), Some("y")],
            ],
            &["d1", "d2"],
            1,
        );
        assert_eq!(got, ["d1=a|d2=x", "d1=NULL|d2=y", "d1=NULL|d2=y"]);
    }

    #[test]
    fn small_partition_is_the_root() {
        let got = labels(vec![vec![Some("a"), Some("b")]], &["d"], 5);
        assert_eq!(got, ["d=*", "d=*"]);
        assert!(labels(vec![vec![]], &["d"], 1).is_empty());
    }

    /// The privacy floor, checked on pseudo-random data against a literal
    /// reading of the rule: every non-root label's cell has ≥ min_size rows,
    /// and no finer cell of the row would have qualified.
    #[test]
    fn every_label_follows_the_rule() {
        let mut state = 0x1234_5678_u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        let rows = 500;
        let dims: Vec<Vec<String>> = (0..3)
            .map(|d| {
                (0..rows)
                    .map(|_| format!("v{}", next(3 + 2 * d as u64)))
                    .collect()
            })
            .collect();
        let views: Vec<Vec<Option<&str>>> = dims
            .iter()
            .map(|d| d.iter().map(|s| Some(s.as_str())).collect())
            .collect();
        let min_size = 7;
        let got = labels(views, &["a", "b", "c"], min_size);
        let cell_size = |row: usize, level: usize| {
            (0..rows)
                .filter(|&other| (0..level).all(|d| dims[d][other] == dims[d][row]))
                .count() as u64
        };
        for (row, label) in got.iter().enumerate() {
            let level = (1..=3)
                .rev()
                .find(|&l| cell_size(row, l) >= min_size)
                .unwrap_or(0);
            let want: Vec<String> = ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(d, name)| {
                    if d < level {
                        format!("{name}={}", dims[d][row])
                    } else {
                        format!("{name}=*")
                    }
                })
                .collect();
            assert_eq!(label, &want.join("|"), "row {row}");
        }
    }
}
