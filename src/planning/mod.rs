//! Our extension planners: what turns catalog names in a DataFusion plan
//! into what runs, through DataFusion's own extension points. They read
//! the stored records (`catalog`) and never the engine.

mod bind;
mod consent;
mod dense;
mod leaves;
pub mod privacy;
mod single_phase;
mod suppress;

use std::sync::Arc;

use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::optimizer::Analyzer;

pub use bind::{BindCatalog, uses_catalog};
pub use consent::{ConsentRule, ConsentTable};
pub use dense::{DenseAggregateExec, DenseGroupAggregate};
pub use single_phase::SinglePhaseAggregate;
pub use suppress::{FORGOTTEN, Forgotten, SuppressForgotten, canonical_key};

use crate::catalog::CatalogCache;

/// `builder` with [`BindCatalog`] first among the analyzer rules (before
/// type coercion, which then coerces the `CASE` it builds), reading
/// `cache` and planning rule predicates with `functions`, then
/// [`SuppressForgotten`] filtering forgotten people out on column `entity_key`.
pub fn with_catalog_binding(
    builder: SessionStateBuilder,
    cache: Arc<CatalogCache>,
    functions: SessionState,
    entity_key: String,
) -> SessionStateBuilder {
    let mut rules = Analyzer::new().rules;
    rules.insert(
        0,
        Arc::new(SuppressForgotten::new(Arc::clone(&cache), entity_key)),
    );
    rules.insert(0, Arc::new(BindCatalog::new(cache, functions)));
    builder.with_analyzer_rules(rules)
}
