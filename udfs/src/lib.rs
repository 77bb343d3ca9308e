//! microseg's SQL functions for Apache DataFusion.
//!
//! Every function here is pure compute: no I/O, no session state. Anything a
//! function needs from the outside (a fitted model, a segment set) is handed
//! to it by the engine at planning time, so a plan that uses these functions
//! can be shipped to another process and re-planned from SQL there.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

pub mod common;
pub mod context;
pub mod experiment;
pub mod journey;
pub mod model;
pub mod score;
pub mod segment;
pub mod text;

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut functions = score::scalar_functions();
    functions.extend(context::scalar_functions());
    functions.extend(experiment::scalar_functions());
    functions.extend(segment::scalar_functions());
    functions.extend(model::scalar_functions());
    functions.extend(text::scalar_functions());
    functions
}

/// Every aggregate function of this crate.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    let mut functions = journey::aggregate_functions();
    functions.extend(model::aggregate_functions());
    functions
}

/// Every window function of this crate.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    let mut functions = score::window_functions();
    functions.extend(journey::window_functions());
    functions
}

/// Registers every microseg function with `registry` (a `SessionContext`,
/// a `SessionState`, or a distributed engine's registry).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for f in scalar_functions() {
        registry.register_udf(f)?;
    }
    for f in aggregate_functions() {
        registry.register_udaf(f)?;
    }
    for f in window_functions() {
        registry.register_udwf(f)?;
    }
    Ok(())
}
