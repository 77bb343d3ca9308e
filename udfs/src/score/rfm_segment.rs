//! `rfm_segment(r, f)`: the standard named segment of a recency/frequency pair.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{checked_scores, score_type};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "rfm_segment";
const R: Param = Param::new(NAME, 0, "r");
const F: Param = Param::new(NAME, 1, "f");

/// The map is drawn on a 5 x 5 grid of scores.
const MAX_SCORE: i64 = 5;

/// One region of the R-F map: a label and the inclusive score ranges it covers.
struct Rule {
    label: &'static str,
    r: (usize, usize),
    f: (usize, usize),
}

const fn rule(label: &'static str, r: (usize, usize), f: (usize, usize)) -> Rule {
    Rule { label, r, f }
}

/// The standard R-F map. Together the rules cover each of the 25 cells
/// exactly once (see the tests).
const RULES: [Rule; 10] = [
    rule("champions", (5, 5), (4, 5)),
    rule("loyal", (3, 4), (4, 5)),
    rule("potential_loyalist", (4, 5), (2, 3)),
    rule("new_customers", (5, 5), (1, 1)),
    rule("promising", (4, 4), (1, 1)),
    rule("need_attention", (3, 3), (3, 3)),
    rule("about_to_sleep", (3, 3), (1, 2)),
    rule("at_risk", (1, 2), (3, 4)),
    rule("cant_lose_them", (1, 2), (5, 5)),
    rule("hibernating", (1, 2), (1, 2)),
];

/// `GRID[r - 1][f - 1]` is the index in [`RULES`] of cell (r, f), resolved
/// once at compile time so a lookup is two array indexings.
const GRID: [[u8; 5]; 5] = grid();

const fn grid() -> [[u8; 5]; 5] {
    let mut grid = [[u8::MAX; 5]; 5];
    let mut i = 0;
    while i < RULES.len() {
        let Rule {
            r: (r_lo, r_hi),
            f: (f_lo, f_hi),
            ..
        } = RULES[i];
        let mut r = r_lo;
        while r <= r_hi {
            let mut f = f_lo;
            while f <= f_hi {
                grid[r - 1][f - 1] = i as u8;
                f += 1;
            }
            r += 1;
        }
        i += 1;
    }
    grid
}

/// The segment of scores `r` and `f`, both within 1..=5.
///
/// # Panics
/// If a score is outside 1..=5; SQL calls are checked before this.
pub fn segment_of(r: i64, f: i64) -> &'static str {
    RULES[GRID[r as usize - 1][f as usize - 1] as usize].label
}

#[user_doc(
    doc_section(label = "Segmentation Functions"),
    description = "The standard RFM segment of a recency score r and a frequency score f, both from 1 to 5: \
champions (r 5, f 4-5), loyal (r 3-4, f 4-5), potential_loyalist (r 4-5, f 2-3), new_customers (r 5, f 1), \
promising (r 4, f 1), need_attention (r 3, f 3), about_to_sleep (r 3, f 1-2), at_risk (r 1-2, f 3-4), \
cant_lose_them (r 1-2, f 5), hibernating (r 1-2, f 1-2). These cover every (r, f) pair exactly once. \
NULL if r or f is NULL; a score outside 1 to 5 is an error naming the argument and the value.",
    syntax_example = "rfm_segment(r, f)",
    sql_example = r#"```sql
> SELECT rfm_segment(5, 5) AS best, rfm_segment(1, 5) AS slipping;
+-----------+----------------+
| best      | slipping       |
+-----------+----------------+
| champions | cant_lose_them |
+-----------+----------------+
```"#,
    argument(
        name = "r",
        description = "Recency score: an integer from 1 to 5 (5 = most recent)."
    ),
    argument(
        name = "f",
        description = "Frequency score: an integer from 1 to 5 (5 = most frequent)."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmSegment {
    signature: Signature,
}

impl RfmSegment {
    /// The `rfm_segment` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&[R, F]))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for RfmSegment {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for RfmSegment {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 2..=2)?;
        Ok(vec![
            score_type(R, &arg_types[0], MAX_SCORE)?,
            score_type(F, &arg_types[1], MAX_SCORE)?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [r, f] = take_function_args(NAME, ColumnarValue::values_to_arrays(&args.args)?)?;
        let r = checked_scores(R, &r, MAX_SCORE)?;
        let f = checked_scores(F, &f, MAX_SCORE)?;
        Ok(ColumnarValue::Array(Arc::new(segments(&r, &f))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The segments of checked scores (all within 1..=5).
fn segments(r: &Int64Array, f: &Int64Array) -> StringArray {
    r.iter()
        .zip(f.iter())
        .map(|(r, f)| Some(segment_of(r?, f?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::ArrayRef;

    /// Counts, for each cell, the rules whose ranges contain it, without
    /// going through `GRID`.
    #[test]
    fn rules_partition_the_grid() {
        for r in 1..=5 {
            for f in 1..=5 {
                let matching: Vec<&str> = RULES
                    .iter()
                    .filter(|rule| {
                        (rule.r.0..=rule.r.1).contains(&r) && (rule.f.0..=rule.f.1).contains(&f)
                    })
                    .map(|rule| rule.label)
                    .collect();
                assert_eq!(matching.len(), 1, "cell r={r} f={f} matches {matching:?}");
                assert_eq!(segment_of(r as i64, f as i64), matching[0]);
            }
        }
        let cells: usize = RULES
            .iter()
            .map(|rule| (rule.r.1 - rule.r.0 + 1) * (rule.f.1 - rule.f.0 + 1))
            .sum();
        assert_eq!(cells, 25);
    }

    /// The map as it is usually drawn, f = 5 in the top row, r = 1 on the left.
    #[test]
    fn grid_as_drawn() {
        let drawn = [
            [
                "cant_lose_them",
                "cant_lose_them",
                "loyal",
                "loyal",
                "champions",
            ],
            ["at_risk", "at_risk", "loyal", "loyal", "champions"],
            [
                "at_risk",
                "at_risk",
                "need_attention",
                "potential_loyalist",
                "potential_loyalist",
            ],
            [
                "hibernating",
                "hibernating",
                "about_to_sleep",
                "potential_loyalist",
                "potential_loyalist",
            ],
            [
                "hibernating",
                "hibernating",
                "about_to_sleep",
                "promising",
                "new_customers",
            ],
        ];
        for (row, labels) in drawn.iter().enumerate() {
            let f = 5 - row as i64;
            for (col, label) in labels.iter().enumerate() {
                let r = col as i64 + 1;
                assert_eq!(segment_of(r, f), *label, "r={r} f={f}");
            }
        }
    }

    #[test]
    fn nulls_give_null() {
        let r = Int64Array::from(vec![Some(5), None, Some(1)]);
        let f = Int64Array::from(vec![Some(5), Some(1), None]);
        let segments = segments(&r, &f);
        let got: Vec<Option<&str>> = segments.iter().collect();
        assert_eq!(got, [Some("champions"), None, None]);
    }

    #[test]
    fn out_of_range_names_function_argument_and_value() {
        let r: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(6)]));
        let err = checked_scores(R, &r, MAX_SCORE).unwrap_err().to_string();
        assert!(
            err.contains("rfm_segment: argument 1 (r) must be a score between 1 and 5, got 6"),
            "{err}"
        );
    }
}
