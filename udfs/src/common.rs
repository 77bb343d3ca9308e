//! Argument checking shared by every function family, so error wording is
//! the same across the crate: it always names the function and the argument.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{
    DataFusionError, Result, ScalarValue, exec_datafusion_err, internal_err, plan_datafusion_err,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

/// An error about argument `index` (0-based) of function `func`.
pub fn arg_error(func: &str, index: usize, message: impl Display) -> DataFusionError {
    plan_datafusion_err!("{func}: argument {} {message}", index + 1)
}

/// An error about the number of arguments of function `func`.
pub fn arity_error(func: &str, expected: &str, got: usize) -> DataFusionError {
    plan_datafusion_err!("{func}: expected {expected} arguments, got {got}")
}

/// Fails with [`arity_error`] unless `got` is within `expected`.
pub fn check_arity(func: &str, got: usize, expected: RangeInclusive<usize>) -> Result<()> {
    if expected.contains(&got) {
        return Ok(());
    }
    let expected = if expected.start() == expected.end() {
        expected.start().to_string()
    } else {
        format!("{} to {}", expected.start(), expected.end())
    };
    Err(arity_error(func, &expected, got))
}

/// One declared parameter of a function: what every argument error names.
///
/// Functions declare theirs as constants, so the names in error messages, in
/// the signature (for `name => value` calls) and in the docs cannot drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The SQL function's name.
    pub func: &'static str,
    /// 0-based position in the argument list.
    pub index: usize,
    /// The parameter's name, as `name => value` calls spell it.
    pub name: &'static str,
}

impl Param {
    /// Declares parameter `name` at position `index` of `func`.
    pub const fn new(func: &'static str, index: usize, name: &'static str) -> Self {
        Self { func, index, name }
    }

    /// A planning error: `func: argument 2 (bins) <message>`.
    pub fn error(&self, message: impl Display) -> DataFusionError {
        arg_error(
            self.func,
            self.index,
            format_args!("({}) {message}", self.name),
        )
    }

    /// The same wording as an execution error, for bad values that only show
    /// up in the data (a score of 7 where 1..5 is expected).
    pub fn exec_error(&self, message: impl Display) -> DataFusionError {
        exec_datafusion_err!(
            "{}: argument {} ({}) {message}",
            self.func,
            self.index + 1,
            self.name
        )
    }

    /// The value of this argument in a physical call, `None` when the call
    /// omits it. Settings such as a bin count must be constants, because one
    /// value has to hold for the whole partition.
    pub fn literal<'a>(
        &self,
        args: &'a [Arc<dyn PhysicalExpr>],
    ) -> Result<Option<&'a ScalarValue>> {
        let Some(arg) = args.get(self.index) else {
            return Ok(None);
        };
        match arg.downcast_ref::<Literal>() {
            Some(literal) => Ok(Some(literal.value())),
            None => Err(self.error(format_args!("must be a constant, got the expression {arg}"))),
        }
    }
}

/// The names of `params`, in order, for `Signature::with_parameter_names`.
pub fn param_names(params: &[Param]) -> Vec<&'static str> {
    params.iter().map(|p| p.name).collect()
}

/// Type check for a text argument: any string type is evaluated as itself
/// (no copy into another layout), a dictionary of strings as its values, an
/// untyped NULL as Utf8. `expected` completes "must be …" in the error.
pub fn text_type(param: Param, data_type: &DataType, expected: &str) -> Result<DataType> {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(data_type.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, value) if value.is_string() => Ok(value.as_ref().clone()),
        other => Err(param.error(format_args!("must be {expected}, got type {other}"))),
    }
}

/// Type check for a real-valued argument: every integer, float and decimal
/// (and an untyped NULL) is evaluated as Float64, so kernels see one type.
pub fn float_type(param: Param, data_type: &DataType) -> Result<DataType> {
    match data_type {
        DataType::Null => Ok(DataType::Float64),
        DataType::Dictionary(_, value) => float_type(param, value),
        t if t.is_numeric() => Ok(DataType::Float64),
        other => Err(param.error(format_args!("must be a number, got type {other}"))),
    }
}

/// Applies `f` to every value of a text array (Utf8, LargeUtf8 or Utf8View,
/// as [`text_type`] leaves them) and collects the results, stopping at the
/// first error.
pub fn map_texts<T, O>(array: &ArrayRef, f: impl FnMut(Option<&str>) -> Result<T>) -> Result<O>
where
    O: FromIterator<T>,
{
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(f).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(f).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(f).collect(),
        other => internal_err!("map_texts: expected a text array, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{col, lit};

    const BINS: Param = Param::new("f", 1, "bins");

    #[test]
    fn messages_name_function_and_argument() {
        assert_eq!(
            BINS.error("must be positive").strip_backtrace(),
            "Error during planning: f: argument 2 (bins) must be positive"
        );
        assert_eq!(
            BINS.exec_error("must be positive").strip_backtrace(),
            "Execution error: f: argument 2 (bins) must be positive"
        );
    }

    #[test]
    fn arity_ranges() {
        assert!(check_arity("f", 2, 1..=3).is_ok());
        assert!(
            check_arity("f", 4, 1..=3)
                .unwrap_err()
                .to_string()
                .contains("f: expected 1 to 3 arguments, got 4")
        );
        assert!(
            check_arity("f", 1, 2..=2)
                .unwrap_err()
                .to_string()
                .contains("f: expected 2 arguments, got 1")
        );
    }

    #[test]
    fn literal_arguments() {
        let schema = Schema::new(vec![Field::new("x", DataType::Int64, true)]);
        let args = vec![col("x", &schema).unwrap(), lit(5i64)];
        assert_eq!(
            BINS.literal(&args).unwrap(),
            Some(&ScalarValue::Int64(Some(5)))
        );
        assert_eq!(
            Param::new("f", 2, "direction").literal(&args).unwrap(),
            None
        );
        let err = Param::new("f", 0, "x").literal(&args).unwrap_err();
        assert!(
            err.to_string()
                .contains("f: argument 1 (x) must be a constant"),
            "{err}"
        );
    }

    #[test]
    fn text_and_float_types() {
        let p = Param::new("f", 0, "s");
        assert_eq!(
            text_type(p, &DataType::Utf8View, "text").unwrap(),
            DataType::Utf8View
        );
        assert_eq!(
            text_type(p, &DataType::Null, "text").unwrap(),
            DataType::Utf8
        );
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::LargeUtf8));
        assert_eq!(text_type(p, &dict, "text").unwrap(), DataType::LargeUtf8);
        let err = text_type(p, &DataType::Int64, "a name").unwrap_err();
        assert!(
            err.to_string()
                .contains("f: argument 1 (s) must be a name, got type Int64"),
            "{err}"
        );
        for t in [
            DataType::Int8,
            DataType::UInt64,
            DataType::Float32,
            DataType::Decimal128(10, 2),
        ] {
            assert_eq!(float_type(p, &t).unwrap(), DataType::Float64);
        }
        assert!(float_type(p, &DataType::Utf8).is_err());
    }

    #[test]
    fn map_texts_reads_every_string_layout() {
        use datafusion::arrow::array::{Int64Array, LargeStringArray, StringViewArray};
        let arrays: [ArrayRef; 2] = [
            Arc::new(LargeStringArray::from(vec![Some("ab"), None])),
            Arc::new(StringViewArray::from(vec![Some("ab"), None])),
        ];
        for array in arrays {
            let lengths: Vec<Option<usize>> = map_texts(&array, |s| Ok(s.map(str::len))).unwrap();
            assert_eq!(lengths, [Some(2), None]);
        }
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert!(map_texts::<(), Vec<()>>(&ints, |_| Ok(())).is_err());
    }
}
