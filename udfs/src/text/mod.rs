//! Text functions for identity resolution and ad-platform uploads:
//! normalizers, similarity, phonetic codes and Customer Match hashing.
//!
//! - [`customer_match`]: `customer_match_normalize`, `customer_match_hash`
//!   (Google Ads Customer Match upload rules)
//! - [`normalize`]: `normalize_email`, `normalize_phone`, `normalize_name`
//!   (identity-matching rules, a different family on purpose)
//! - [`similarity`]: `jaro_winkler`, `damerau_levenshtein` (DataFusion
//!   already has `levenshtein`)
//! - [`phonetic`]: `double_metaphone`, `double_metaphone_alt`
//!
//! The rules live in `microseg_kernels::text`; every function here is a
//! [`TextFunction`]: text arguments in, one value per row out, NULL when
//! any argument is NULL.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::common::{Param, check_arity, param_names, text_type};

mod customer_match;
mod normalize;
mod phonetic;
mod similarity;

/// Scalar functions of this family.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    [
        customer_match::customer_match_normalize(),
        customer_match::customer_match_hash(),
        normalize::normalize_email(),
        normalize::normalize_phone(),
        normalize::normalize_name(),
        similarity::jaro_winkler(),
        similarity::damerau_levenshtein(),
        phonetic::double_metaphone(),
        phonetic::double_metaphone_alt(),
    ]
    .into_iter()
    .map(|f| Arc::new(ScalarUDF::new_from_impl(f)))
    .collect()
}

/// What a function computes from one row's argument values.
#[derive(Clone, Copy)]
pub(crate) enum Kernel {
    /// Text out; `None` for an invalid value, an error for a bad setting.
    Text(fn(&[&str]) -> Result<Option<String>>),
    Float(fn(&[&str]) -> f64),
    Int(fn(&[&str]) -> i64),
}

impl Kernel {
    fn data_type(&self) -> DataType {
        match self {
            Kernel::Text(_) => DataType::Utf8,
            Kernel::Float(_) => DataType::Float64,
            Kernel::Int(_) => DataType::Int64,
        }
    }
}

/// A check of a constant argument made while planning, so a misspelt
/// setting fails before any row is read: (argument position, check).
pub(crate) type LiteralCheck = (usize, fn(&str) -> Result<()>);

/// A scalar function of text arguments. Each function's file declares its
/// parameters, documentation and kernel and builds one of these.
pub(crate) struct TextFunction {
    name: &'static str,
    params: &'static [Param],
    /// How many parameters are required; the rest are optional.
    required: usize,
    kernel: Kernel,
    literal_check: Option<LiteralCheck>,
    documentation: Option<&'static Documentation>,
    signature: Signature,
}

impl TextFunction {
    pub(crate) fn new(
        params: &'static [Param],
        required: usize,
        kernel: Kernel,
        documentation: Option<&'static Documentation>,
    ) -> Self {
        Self {
            name: params[0].func,
            params,
            required,
            kernel,
            literal_check: None,
            documentation,
            signature: Signature::user_defined(Volatility::Immutable)
                .with_parameter_names(param_names(params))
                .expect("a user-defined signature takes any parameter names"),
        }
    }

    pub(crate) fn with_literal_check(mut self, check: LiteralCheck) -> Self {
        self.literal_check = Some(check);
        self
    }
}

impl std::fmt::Debug for TextFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextFunction")
            .field("name", &self.name)
            .finish()
    }
}

/// Functions are told apart by name: the rest follows from it.
impl PartialEq for TextFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TextFunction {}

impl Hash for TextFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for TextFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(
            self.name,
            arg_types.len(),
            self.required..=self.params.len(),
        )?;
        arg_types
            .iter()
            .zip(self.params)
            .map(|(t, p)| text_type(*p, t, "text"))
            .collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.kernel.data_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some((index, check)) = self.literal_check
            && let Some(Some(value)) = args.scalar_arguments.get(index)
            && let Some(Some(text)) = value.try_as_str()
        {
            check(text)?;
        }
        Ok(Arc::new(Field::new(
            self.name,
            self.kernel.data_type(),
            true,
        )))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns = utf8_columns(&args.args, rows)?;
        let row_values = |row: usize| -> Option<Vec<&str>> {
            columns
                .iter()
                .map(|c| (!c.is_null(row)).then(|| c.value(row)))
                .collect()
        };
        let out: ArrayRef = match self.kernel {
            Kernel::Text(f) => Arc::new(
                (0..rows)
                    .map(|row| row_values(row).map_or(Ok(None), |v| f(&v)))
                    .collect::<Result<StringArray>>()?,
            ),
            Kernel::Float(f) => Arc::new(
                (0..rows)
                    .map(|row| row_values(row).map(|v| f(&v)))
                    .collect::<Float64Array>(),
            ),
            Kernel::Int(f) => Arc::new(
                (0..rows)
                    .map(|row| row_values(row).map(|v| f(&v)))
                    .collect::<Int64Array>(),
            ),
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.documentation
    }
}

/// Every argument as a Utf8 array of `rows` rows (constants repeated).
fn utf8_columns(args: &[ColumnarValue], rows: usize) -> Result<Vec<StringArray>> {
    args.iter()
        .map(|arg| {
            let array = match arg {
                ColumnarValue::Scalar(ScalarValue::Null) => {
                    ScalarValue::Utf8(None).to_array_of_size(rows)?
                }
                _ => arg.to_array(rows)?,
            };
            Ok(cast(&array, &DataType::Utf8)?.as_string::<i32>().clone())
        })
        .collect()
}
