//! Table functions that need the session: they look up a table by name and
//! return a view whose logical plan DataFusion inlines into the query, so
//! the whole call is optimized as one plan (projections and filters reach
//! the Parquet scan) and nothing is collected into memory.
//!
//! - `rfm(table, customer_col, ts_col, amount_col [, as_of])`
//! - `affinity(table, customer_col, item_col, weight_col)` and
//!   `top_affinity(table, customer_col, item_col, weight_col [, min_share [, min_rows [, min_customers]]])`
//! - `clv_summary(table, customer_col, ts_col, amount_col, as_of [, period])`
//! - `churn_labels(table, customer_col, ts_col, amount_col, cutoff, horizon)`:
//!   point-in-time churn features and labels
//! - `segment_changes` / `segment_flows(table, from_as_of, to_as_of [, segment_column])`
//!   over a materialized Delta segment table's history
//! - `lookalike(model, seeds, candidates, n)`, `model_evaluate(model, relation [, threshold])`,
//!   `model_roc` and `model_gains`: models applied to tables or views, the model and `n`
//!   possibly parameters
//! - `recommend(model, k)`, `recommend_for(model, customer_id, k [, segment])`,
//!   `also_bought(model, item, k [, segment])`: a recommender's lists and
//!   association statistics, computed when the plan runs
//! - `predict_links(model, threshold [, table])`, `cluster_links(…)`,
//!   `model_parameters(model)`: a record-linkage model's scored pairs,
//!   clusters and parameters ([`linkage`] also trains it for `CREATE MODEL`)
//! - `identity_components(graph)`: a stored identity graph's profiles
//!   ([`identity`] also builds the graphs for `CREATE IDENTITY GRAPH`)

mod affinity;
mod also_bought;
pub(crate) mod args;
mod churn_labels;
mod clv_summary;
mod history;
pub mod identity;
pub mod linkage;
mod lookalike;
mod model_evaluate;
mod recommend;
mod rfm;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use crate::catalog::CatalogCache;

pub use affinity::{AffinityFunction, TopAffinityFunction};
pub use clv_summary::ClvSummaryFunction;
pub use lookalike::LookalikeFunction;
pub use model_evaluate::ModelEvaluateFunction;
pub use rfm::RfmFunction;

/// Registers every table function of this module with `ctx`; the model
/// reports read the catalog snapshot `cache` while planning.
pub fn register_all(ctx: &SessionContext, cache: &Arc<CatalogCache>) {
    ctx.register_udtf(rfm::NAME, Arc::new(RfmFunction));
    ctx.register_udtf(affinity::AFFINITY, Arc::new(AffinityFunction));
    ctx.register_udtf(affinity::TOP_AFFINITY, Arc::new(TopAffinityFunction));
    ctx.register_udtf(clv_summary::NAME, Arc::new(ClvSummaryFunction));
    ctx.register_udtf(
        churn_labels::NAME,
        Arc::new(churn_labels::ChurnLabelsFunction),
    );
    ctx.register_udtf(history::CHANGES, Arc::new(history::SegmentChangesFunction));
    ctx.register_udtf(history::FLOWS, Arc::new(history::SegmentFlowsFunction));
    ctx.register_udtf(lookalike::NAME, Arc::new(LookalikeFunction));
    ctx.register_udtf(
        model_evaluate::NAME,
        Arc::new(ModelEvaluateFunction::evaluate(Arc::clone(cache))),
    );
    ctx.register_udtf(
        model_evaluate::ROC,
        Arc::new(ModelEvaluateFunction::roc(Arc::clone(cache))),
    );
    ctx.register_udtf(
        recommend::RECOMMEND,
        Arc::new(recommend::RecommendFunction::all(Arc::clone(cache))),
    );
    ctx.register_udtf(
        recommend::RECOMMEND_FOR,
        Arc::new(recommend::RecommendFunction::one(Arc::clone(cache))),
    );
    ctx.register_udtf(
        also_bought::NAME,
        Arc::new(also_bought::AlsoBoughtFunction::new(Arc::clone(cache))),
    );
    ctx.register_udtf(
        linkage::PREDICT_LINKS,
        Arc::new(linkage::PredictLinksFunction::predict(Arc::clone(cache))),
    );
    ctx.register_udtf(
        linkage::CLUSTER_LINKS,
        Arc::new(linkage::ClusterLinksFunction::cluster(Arc::clone(cache))),
    );
    ctx.register_udtf(
        linkage::MODEL_PARAMETERS,
        Arc::new(linkage::ModelParametersFunction::new(Arc::clone(cache))),
    );
    ctx.register_udtf(
        model_evaluate::GAINS,
        Arc::new(ModelEvaluateFunction::gains(Arc::clone(cache))),
    );
}
