//! `micro_segment(min_size, dim1, …, dimN) OVER (...)`: the most specific
//! cell of a row such that every label but the root names at least
//! `min_size` rows.

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
    description = "Labels each row with a cell of its dimensions, such as \
'city=Leeds|channel=app|cluster=*', so that every label except the root (every dimension '*') \
is carried by at least `min_size` rows of the window partition: a privacy floor. With N \
dimensions, the level-L cell of a row is the set of partition rows that share its first L \
dimension values; dimensions after L are written as '*'. Rule: (1) each row starts at its most \
specific cell with at least min_size rows (L = N, N-1, …, 1), or at the root if even its level-1 \
cell is smaller. (2) A cell where between 1 and min_size-1 rows started (the rest of its rows \
went to finer cells) takes in one label group from below it: the one that gives up the fewest \
dimension values (rows × levels), then the one with fewer rows, then the one with the smaller \
values; deeper cells are settled first, and a cell that took rows in can itself be taken in \
later. The root takes nothing in: it holds exactly the rows whose level-1 cell has fewer than \
min_size rows (the whole partition when it is that small), however few. Dimensions are given up \
from the last, so list them from most to least important. Labels do not depend on row order. \
NULL is a value of its own, written NULL. Dimension names are the column names (the expression \
text for other expressions). Ignores ORDER BY and frame. Returns Utf8.",
    syntax_example = "micro_segment(min_size, dim1 [, dim2, …]) OVER ([PARTITION BY expr])",
    sql_example = r#"```sql
> SELECT id, micro_segment(2, city, channel) OVER () AS cell
  FROM (VALUES (1, 'Leeds', 'app'), (2, 'Leeds', 'app'), (3, 'Leeds', 'web'), (4, 'Leeds', 'bus'),
               (5, 'York', 'web'))
       AS t(id, city, channel)
  ORDER BY id;
+----+-------------------------+
| id | cell                    |
+----+-------------------------+
| 1  | city=Leeds|channel=app  |
| 2  | city=Leeds|channel=app  |
| 3  | city=Leeds|channel=*    |
| 4  | city=Leeds|channel=*    |
| 5  | city=*|channel=*        |
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

/// One cell of the hierarchy: the partition rows sharing the first `depth`
/// dimension values of some row. Cell 0 is the root (depth 0, every row).
struct Cell {
    parent: usize,
    depth: usize,
    /// The value id in dimension `depth - 1` (unused for the root).
    value: u32,
    size: u64,
    children: Vec<usize>,
}

/// Labels every row of `dims` (Utf8 columns named by `names`) by the rule
/// in the function's documentation.
///
/// Values are interned per dimension and the rows are threaded through a
/// tree of cells, so a label is a cell id until the strings are written.
/// A parent is always created before its children, so increasing ids visit
/// ancestors first and decreasing ids visit descendants first.
pub fn micro_segments(
    dims: &[ArrayRef],
    names: &[String],
    min_size: u64,
    num_rows: usize,
) -> datafusion::arrow::array::StringArray {
    let n = dims.len();
    // values[d][id]: the text of value id `id` in dimension d (0 is NULL).
    let mut values: Vec<Vec<Option<&str>>> = Vec::with_capacity(n);
    let mut ids: Vec<Vec<u32>> = Vec::with_capacity(n);
    for dim in dims {
        let strings = dim.as_string::<i32>();
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut seen: Vec<Option<&str>> = vec![None];
        let column: Vec<u32> = (0..num_rows)
            .map(|row| {
                if strings.is_null(row) {
                    return 0;
                }
                let value = strings.value(row);
                *index.entry(value).or_insert_with(|| {
                    seen.push(Some(value));
                    (seen.len() - 1) as u32
                })
            })
            .collect();
        values.push(seen);
        ids.push(column);
    }

    let mut cells = vec![Cell {
        parent: 0,
        depth: 0,
        value: 0,
        size: num_rows as u64,
        children: Vec::new(),
    }];
    let mut child_of: HashMap<(usize, u32), usize> = HashMap::new();
    let mut leaf = Vec::with_capacity(num_rows);
    for row in 0..num_rows {
        let mut cell = 0;
        for (d, column) in ids.iter().enumerate() {
            let value = column[row];
            let parent = cell;
            cell = *child_of.entry((parent, value)).or_insert_with(|| {
                cells.push(Cell {
                    parent,
                    depth: d + 1,
                    value,
                    size: 0,
                    children: Vec::new(),
                });
                let id = cells.len() - 1;
                cells[parent].children.push(id);
                id
            });
            cells[cell].size += 1;
        }
        leaf.push(cell);
    }

    // Step 1: a row's most specific cell with at least min_size rows. Sizes
    // only shrink down a path, so that is the last large cell on the path.
    let mut start = vec![0; cells.len()];
    for c in 1..cells.len() {
        start[c] = if cells[c].size >= min_size {
            c
        } else {
            start[cells[c].parent]
        };
    }
    // group[c]: how many rows are labelled c (0 or, below the root, ≥ min_size
    // once the cell and everything under it has been settled).
    let mut group = vec![0u64; cells.len()];
    for &l in &leaf {
        group[start[l]] += 1;
    }

    // Step 2: a cell left with 1..min_size-1 rows of its own takes in one
    // label group from below it. One is enough: every settled group below
    // already has at least min_size rows. Deepest cells first, so the groups
    // below are final when a cell looks at them, and a cell that took in
    // rows can itself be taken in by an ancestor later. The root is exempt.
    let path = |mut c: usize| {
        let mut p = Vec::with_capacity(cells[c].depth);
        while c != 0 {
            p.push(values[cells[c].depth - 1][cells[c].value as usize]);
            c = cells[c].parent;
        }
        p.reverse();
        p
    };
    let mut taken_by: Vec<Option<usize>> = vec![None; cells.len()];
    let mut below = Vec::new();
    for c in (1..cells.len()).rev() {
        if group[c] == 0 || group[c] >= min_size {
            continue;
        }
        // The cheapest group: fewest dimension values given up (rows times
        // levels), then fewest rows, then the smallest values, so the choice
        // never depends on row order.
        let mut best: Option<(u64, u64, usize)> = None;
        below.clear();
        below.extend_from_slice(&cells[c].children);
        while let Some(e) = below.pop() {
            // A cell under min_size rows holds no label group at all.
            if cells[e].size < min_size {
                continue;
            }
            below.extend_from_slice(&cells[e].children);
            if group[e] == 0 {
                continue;
            }
            let cost = group[e] * (cells[e].depth - cells[c].depth) as u64;
            let better = match best {
                None => true,
                Some((best_cost, best_rows, b)) => {
                    (cost, group[e]) < (best_cost, best_rows)
                        || ((cost, group[e]) == (best_cost, best_rows) && path(e) < path(b))
                }
            };
            if better {
                best = Some((cost, group[e], e));
            }
        }
        // A cell of at least min_size rows whose own rows are fewer has the
        // rest in groups below it, so there is always one to take.
        let Some((_, _, e)) = best else {
            debug_assert!(false, "cell {c} is short of rows with no group below it");
            continue;
        };
        group[c] += group[e];
        group[e] = 0;
        taken_by[e] = Some(c);
    }
    // Where each cell's rows end up: a cell is only taken in by an ancestor,
    // which has a smaller id and is resolved first.
    let mut label_of: Vec<usize> = (0..cells.len()).collect();
    for c in 1..cells.len() {
        if let Some(a) = taken_by[c] {
            label_of[c] = label_of[a];
        }
    }

    let mut text: Vec<Option<String>> = vec![None; cells.len()];
    let mut out = StringBuilder::with_capacity(num_rows, num_rows * 16 * n);
    for &l in &leaf {
        let cell = label_of[start[l]];
        let label = text[cell].get_or_insert_with(|| {
            let known = path(cell);
            let mut label = String::new();
            for (d, name) in names.iter().enumerate() {
                if d > 0 {
                    label.push('|');
                }
                label.push_str(name);
                label.push('=');
                match known.get(d) {
                    Some(Some(v)) => label.push_str(v),
                    Some(None) => label.push_str("NULL"),
                    None => label.push('*'),
                }
            }
            label
        });
        out.append_value(label);
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
        // Leeds/app has 2 rows (kept); Leeds/web and Leeds/bus have 1 each, so
        // they back off to Leeds, which they make 2; York has 1 (root).
        let got = labels(
            vec![
                vec![
                    Some("Leeds"),
                    Some("Leeds"),
                    Some("Leeds"),
                    Some("Leeds"),
                    Some("York"),
                ],
                vec![
                    Some("app"),
                    Some("app"),
                    Some("web"),
                    Some("bus"),
                    Some("web"),
                ],
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
                "city=Leeds|channel=*",
                "city=*|channel=*"
            ]
        );
    }

    #[test]
    fn a_short_remainder_takes_in_a_finer_group() {
        // Leeds/web alone would name 1 person as city=Leeds|channel=*, so
        // Leeds takes in Leeds/app (its only group) and all three say Leeds.
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
                "city=Leeds|channel=*",
                "city=Leeds|channel=*",
                "city=Leeds|channel=*",
                "city=*|channel=*"
            ]
        );
    }

    #[test]
    fn the_cheapest_group_is_taken_in() {
        // min_size 3. a/x/p: 3 rows, a/x/q: 1 row -> a/x keeps 1 of its own,
        // too few: it takes in a/x/p. a/y/p: 4 rows, a/y/q: 4 rows, a/z: 1
        // row -> a keeps 1 of its own: the candidates are a/x (4 rows, one
        // level: cost 4), a/y/p and a/y/q (4 rows, two levels: cost 8).
        let rows: Vec<(&str, &str, &str)> = [
            vec![("a", "x", "p"); 3],
            vec![("a", "x", "q")],
            vec![("a", "y", "p"); 4],
            vec![("a", "y", "q"); 4],
            vec![("a", "z", "p")],
        ]
        .concat();
        let got = labels(
            vec![
                rows.iter().map(|r| Some(r.0)).collect(),
                rows.iter().map(|r| Some(r.1)).collect(),
                rows.iter().map(|r| Some(r.2)).collect(),
            ],
            &["d1", "d2", "d3"],
            3,
        );
        let want: Vec<&str> = [
            vec!["d1=a|d2=*|d3=*"; 4],
            vec!["d1=a|d2=y|d3=p"; 4],
            vec!["d1=a|d2=y|d3=q"; 4],
            vec!["d1=a|d2=*|d3=*"],
        ]
        .concat();
        assert_eq!(got, want);
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

    /// SplitMix64: deterministic test data without a `rand` dependency.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The privacy floor and the back-off rules, checked on random
    /// partitions against counts taken straight from the rows (not from the
    /// function's tree):
    /// - every label but the root is carried by at least min_size rows;
    /// - a label is a cell of its row, never finer than the row's most
    ///   specific cell of at least min_size rows (its start);
    /// - the root is used exactly for rows whose first value is rare;
    /// - rows leave their start only for a cell that was short (between 1
    ///   and min_size - 1 rows started there), and each such cell takes them
    ///   from one of its subcells only: a cell with no short cell above it
    ///   keeps its full label.
    #[test]
    fn every_label_keeps_the_floor_and_backs_off_only_where_needed() {
        let mut seed = 0x5EED;
        let mut moved_somewhere = 0;
        for case in 0..400 {
            let n = 1 + (next(&mut seed) % 4) as usize;
            let rows = (next(&mut seed) % 300) as usize;
            let min_size = 1 + next(&mut seed) % if case % 2 == 0 { 8 } else { 40 };
            let cardinality: Vec<u64> = (0..n).map(|_| 1 + next(&mut seed) % 6).collect();
            let null_percent = next(&mut seed) % 3 * 10;
            // Skewed values (min of two draws) so cells of all sizes occur.
            let data: Vec<Vec<Option<String>>> = (0..n)
                .map(|d| {
                    (0..rows)
                        .map(|_| {
                            if next(&mut seed) % 100 < null_percent {
                                return None;
                            }
                            let v = (next(&mut seed) % cardinality[d])
                                .min(next(&mut seed) % cardinality[d]);
                            Some(format!("v{v}"))
                        })
                        .collect()
                })
                .collect();
            let names: Vec<String> = (0..n).map(|d| format!("d{d}")).collect();
            let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let views: Vec<Vec<Option<&str>>> = data
                .iter()
                .map(|d| d.iter().map(|v| v.as_deref()).collect())
                .collect();
            let got = labels(views, &name_refs, min_size);
            assert_eq!(got.len(), rows);

            let prefix = |row: usize, level: usize| -> Vec<Option<String>> {
                (0..level).map(|d| data[d][row].clone()).collect()
            };
            let text = |row: usize, level: usize| -> String {
                (0..n)
                    .map(|d| match &data[d][row] {
                        _ if d >= level => format!("d{d}=*"),
                        Some(v) => format!("d{d}={v}"),
                        None => format!("d{d}=NULL"),
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            };
            let mut cell_rows: HashMap<Vec<Option<String>>, u64> = HashMap::new();
            for row in 0..rows {
                for level in 1..=n {
                    *cell_rows.entry(prefix(row, level)).or_default() += 1;
                }
            }
            let start: Vec<usize> = (0..rows)
                .map(|row| {
                    (1..=n)
                        .rev()
                        .find(|&l| cell_rows[&prefix(row, l)] >= min_size)
                        .unwrap_or(0)
                })
                .collect();
            let mut started: HashMap<Vec<Option<String>>, u64> = HashMap::new();
            for (row, &level) in start.iter().enumerate() {
                *started.entry(prefix(row, level)).or_default() += 1;
            }
            let mut carried: HashMap<&str, u64> = HashMap::new();
            for label in &got {
                *carried.entry(label.as_str()).or_default() += 1;
            }
            let root = (0..n)
                .map(|d| format!("d{d}=*"))
                .collect::<Vec<_>>()
                .join("|");
            let context = format!("case {case}: n {n}, rows {rows}, min_size {min_size}");
            for (label, &count) in &carried {
                assert!(
                    *label == root || count >= min_size,
                    "{context}: {label} names {count} rows"
                );
            }
            // The subcell each short cell took rows from.
            let mut source: HashMap<Vec<Option<String>>, Option<String>> = HashMap::new();
            for (row, label) in got.iter().enumerate() {
                let level = (0..=n)
                    .find(|&l| text(row, l) == *label)
                    .unwrap_or_else(|| panic!("{context}: row {row} labelled {label}"));
                assert!(
                    level <= start[row],
                    "{context}: row {row} too fine: {label}"
                );
                assert_eq!(level == 0, start[row] == 0, "{context}: row {row} {label}");
                if level < start[row] {
                    moved_somewhere += 1;
                    let own = started.get(&prefix(row, level)).copied().unwrap_or(0);
                    assert!(
                        0 < own && own < min_size,
                        "{context}: row {row} moved up to {label}, which had {own} rows"
                    );
                    let from = data[level][row].clone();
                    let first = source.entry(prefix(row, level)).or_insert(from.clone());
                    assert_eq!(*first, from, "{context}: {label} took from two subcells");
                }
            }
        }
        // The random cases really exercise taking groups in.
        assert!(moved_somewhere > 100, "{moved_somewhere}");
    }

    /// Row order never changes a label.
    #[test]
    fn labels_do_not_depend_on_row_order() {
        let mut seed = 99;
        let rows: Vec<(String, String)> = (0..200)
            .map(|_| {
                (
                    format!("c{}", next(&mut seed) % 4),
                    format!("k{}", next(&mut seed) % 5),
                )
            })
            .collect();
        let run = |order: &[usize]| {
            let got = labels(
                vec![
                    order.iter().map(|&i| Some(rows[i].0.as_str())).collect(),
                    order.iter().map(|&i| Some(rows[i].1.as_str())).collect(),
                ],
                &["a", "b"],
                12,
            );
            let mut by_row = vec![String::new(); rows.len()];
            for (label, &i) in got.into_iter().zip(order) {
                by_row[i] = label;
            }
            by_row
        };
        let forward: Vec<usize> = (0..rows.len()).collect();
        let backward: Vec<usize> = forward.iter().rev().copied().collect();
        assert_eq!(run(&forward), run(&backward));
    }
}
