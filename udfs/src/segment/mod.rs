//! Segment sets: `segment_of('set')` and `segments_of('set')`.
//!
//! A segment set is stored by the microseg engine (in the lake) and is SQL
//! text whose predicates refer to columns of whatever relation the call sits
//! in, so only the engine's SQL planner can resolve it: the engine replaces
//! each call by the equivalent `CASE` expression before planning. What a
//! plan carries (to the optimizer, or to a distributed worker) is that
//! `CASE`, never these functions. They are registered so the functions are
//! documented like every other (`information_schema.routines`) and so a
//! session without the microseg engine fails with an error that says why.

mod segment_of;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use segment_of::SegmentOf;

/// Scalar functions of this family.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(SegmentOf::first())),
        Arc::new(ScalarUDF::new_from_impl(SegmentOf::all())),
    ]
}
