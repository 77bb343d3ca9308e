//! Argument checking shared by every function family, so error wording is
//! the same across the crate: it always names the function and the argument.

use datafusion::common::{DataFusionError, plan_datafusion_err};

/// An error about argument `index` (0-based) of function `func`.
pub fn arg_error(func: &str, index: usize, message: impl std::fmt::Display) -> DataFusionError {
    plan_datafusion_err!("{func}: argument {} {message}", index + 1)
}

/// An error about the number of arguments of function `func`.
pub fn arity_error(func: &str, expected: &str, got: usize) -> DataFusionError {
    plan_datafusion_err!("{func}: expected {expected} arguments, got {got}")
}
