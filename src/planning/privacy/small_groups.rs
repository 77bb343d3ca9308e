//! The checks the reader rule plants in plans: `small_groups = "error"`'s
//! (a counted group below the minimum fails the query) and rule 6's (a
//! filter keeping or removing a few people fails it). Never registered, so
//! no query can name them.

use datafusion::arrow::array::{Array, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `require_group(entities)`: true, or the refusal when below `min`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct RequireGroup {
    min: i64,
    signature: Signature,
}

impl RequireGroup {
    pub(super) fn new(min: u64) -> Self {
        RequireGroup {
            min: i64::try_from(min).unwrap_or(i64::MAX),
            signature: Signature::exact(vec![DataType::Int64], Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for RequireGroup {
    fn name(&self) -> &str {
        "microseg_require_group"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let counts = args.args[0].to_array(args.number_rows)?;
        let counts = counts
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| super::refusal("an uncounted group".into()))?;
        // A count is never NULL; treated as 0 if it were.
        if (0..counts.len()).any(|i| counts.is_null(i) || counts.value(i) < self.min) {
            return Err(super::refused(
                "min_group_size",
                &format!(
                    "see a group of fewer than {} customers (small_groups = \"error\")",
                    self.min
                ),
            ));
        }
        Ok(ColumnarValue::Array(std::sync::Arc::new(
            BooleanArray::from(vec![true; counts.len()]),
        )))
    }
}

/// `require_filter(kept, removed)`: true when each count is 0 or at least
/// `min`, else the refusal (which names no count: a count is a value).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct RequireFilter {
    min: i64,
    signature: Signature,
}

impl RequireFilter {
    pub(super) fn new(min: u64) -> Self {
        RequireFilter {
            min: i64::try_from(min).unwrap_or(i64::MAX),
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64],
                Volatility::Volatile,
            ),
        }
    }
}

impl ScalarUDFImpl for RequireFilter {
    fn name(&self) -> &str {
        "microseg_require_filter"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut small = false;
        for arg in &args.args {
            let counts = arg.to_array(rows)?;
            let counts = counts
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| super::refusal("an uncounted filter".into()))?;
            small |= (0..counts.len())
                .any(|i| counts.is_null(i) || (counts.value(i) > 0 && counts.value(i) < self.min));
        }
        if small {
            return Err(super::refused(
                "filters count as groups",
                &format!(
                    "filter customer rows so that fewer than {} customers are kept or removed",
                    self.min
                ),
            ));
        }
        Ok(ColumnarValue::Array(std::sync::Arc::new(
            BooleanArray::from(vec![true; rows]),
        )))
    }
}
