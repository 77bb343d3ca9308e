//! `rfm_code(r, f, m)`: the three scores as one short text such as `'545'`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::utils::take_function_args;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{checked_scores, score_type};
use crate::common::{Param, check_arity, param_names};

const NAME: &str = "rfm_code";
const PARAMS: [Param; 3] = [
    Param::new(NAME, 0, "r"),
    Param::new(NAME, 1, "f"),
    Param::new(NAME, 2, "m"),
];

/// Scores are written as one digit each, which is what keeps codes short and
/// sortable; hence at most 9 bins.
const MAX_SCORE: i64 = 9;

#[user_doc(
    doc_section(label = "Segmentation Functions"),
    description = "The RFM scores r, f and m as one text of three digits, such as '545' \
(r = 5, f = 4, m = 5). NULL if any score is NULL. Each score must be an integer from 1 to 9; \
any other value is an error naming the argument.",
    syntax_example = "rfm_code(r, f, m)",
    sql_example = r#"```sql
> SELECT rfm_code(5, 4, 5) AS code, rfm_code(1, NULL, 2) AS no_code;
+------+---------+
| code | no_code |
+------+---------+
| 545  |         |
+------+---------+
```"#,
    argument(name = "r", description = "Recency score: an integer from 1 to 9."),
    argument(name = "f", description = "Frequency score: an integer from 1 to 9."),
    argument(name = "m", description = "Monetary score: an integer from 1 to 9.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmCode {
    signature: Signature,
}

impl RfmCode {
    /// The `rfm_code` scalar function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(&PARAMS))
                .expect("a user-defined signature takes any parameter names"),
        }
    }
}

impl Default for RfmCode {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for RfmCode {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, arg_types.len(), 3..=3)?;
        PARAMS
            .iter()
            .zip(arg_types)
            .map(|(param, t)| score_type(*param, t, MAX_SCORE))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [r, f, m] = take_function_args(NAME, ColumnarValue::values_to_arrays(&args.args)?)?;
        let scores = [
            checked_scores(PARAMS[0], &r, MAX_SCORE)?,
            checked_scores(PARAMS[1], &f, MAX_SCORE)?,
            checked_scores(PARAMS[2], &m, MAX_SCORE)?,
        ];
        Ok(ColumnarValue::Array(Arc::new(codes(&scores))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// The codes of checked scores (all within 1..=9).
fn codes([r, f, m]: &[Int64Array; 3]) -> StringArray {
    let mut out = StringBuilder::with_capacity(r.len(), 3 * r.len());
    for row in 0..r.len() {
        if r.is_null(row) || f.is_null(row) || m.is_null(row) {
            out.append_null();
            continue;
        }
        let digits = [r, f, m].map(|s| b'0' + s.value(row) as u8);
        // Digits are ASCII, so this never fails.
        out.append_value(std::str::from_utf8(&digits).unwrap_or_default());
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, UInt64Array};

    fn int64(values: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(values))
    }

    fn checked(param: usize, values: ArrayRef) -> Result<Int64Array> {
        checked_scores(PARAMS[param], &values, MAX_SCORE)
    }

    #[test]
    fn digits_in_order_and_null_if_any_null() {
        let scores = [
            Int64Array::from(vec![Some(5), Some(1), None, Some(9)]),
            Int64Array::from(vec![Some(4), Some(1), Some(2), None]),
            Int64Array::from(vec![Some(5), Some(1), Some(3), Some(9)]),
        ];
        let codes = codes(&scores);
        let got: Vec<Option<&str>> = codes.iter().collect();
        assert_eq!(got, [Some("545"), Some("111"), None, None]);
    }

    #[test]
    fn out_of_range_names_argument_and_value() {
        let err = checked(1, int64(vec![Some(3), None, Some(10)]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rfm_code: argument 2 (f) must be a score between 1 and 9, got 10"),
            "{err}"
        );
        assert!(checked(0, int64(vec![Some(0)])).is_err());
        assert_eq!(
            checked(0, int64(vec![Some(1), Some(9), None])).unwrap(),
            Int64Array::from(vec![Some(1), Some(9), None])
        );
    }

    #[test]
    fn uint64_scores_are_checked_before_narrowing() {
        let huge: ArrayRef = Arc::new(UInt64Array::from(vec![Some(2), Some(u64::MAX)]));
        let err = checked(2, huge).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "argument 3 (m) must be a score between 1 and 9, got {}",
                u64::MAX
            )),
            "{err}"
        );
        let fine: ArrayRef = Arc::new(UInt64Array::from(vec![Some(9), None]));
        assert_eq!(
            checked(2, fine).unwrap(),
            Int64Array::from(vec![Some(9), None])
        );
    }
}
