//! A physical optimizer rule: aggregates whose partial state is as large as
//! their input run in one phase.
//!
//! DataFusion aggregates in two phases: each input partition aggregates
//! what it has (Partial), the partial states are repartitioned by group key,
//! and merged (FinalPartitioned). That pays when a state is small (a sum).
//! `clv_periods` keeps every period of a group, so its partial state is
//! the input again, built into lists and then taken apart by the merge.
//! Here such a plan becomes: the input repartitioned by group key, then one
//! aggregate per partition (SinglePartitioned). A logical repartition does
//! not do this: `EnforceDistribution` removes it under a Partial aggregate.
//! Where this rule is not installed (a cluster's scheduler) the two-phase
//! plan runs and gives the same answer.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::Partitioning;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;

/// Aggregate functions whose partial state holds their whole input.
pub(super) const WHOLE_INPUT_STATES: &[&str] = &["clv_periods"];

/// Rewrites Partial → hash repartition → FinalPartitioned into hash
/// repartition → SinglePartitioned when every aggregate function of the
/// node keeps its whole input as state.
#[derive(Debug, Default)]
pub struct SinglePhaseAggregate;

impl PhysicalOptimizerRule for SinglePhaseAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(single) = single_phase(&node)? else {
                return Ok(Transformed::no(node));
            };
            Ok(Transformed::yes(single))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "microseg_single_phase_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn single_phase(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = node.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *last.mode() != AggregateMode::FinalPartitioned
        || last.limit_options().is_some()
        || last.aggr_expr().is_empty()
        || !last
            .aggr_expr()
            .iter()
            .all(|a| WHOLE_INPUT_STATES.contains(&a.fun().name()))
    {
        return Ok(None);
    }
    let Some(shuffle) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let &Partitioning::Hash(_, partitions) = shuffle.partitioning() else {
        return Ok(None);
    };
    let Some(first) = shuffle.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *first.mode() != AggregateMode::Partial
        || first.group_expr().is_empty()
        || !first.group_expr().is_single()
    {
        return Ok(None);
    }
    let input = Arc::clone(first.input());
    let by_key = Arc::new(RepartitionExec::try_new(
        input,
        Partitioning::Hash(first.group_expr().input_exprs(), partitions),
    )?);
    let single = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        first.group_expr().clone(),
        first.aggr_expr().to_vec(),
        first.filter_expr().to_vec(),
        by_key,
        first.input_schema(),
    )?;
    // The final node's output schema is what the plan above expects.
    if single.schema() != last.schema() {
        return Ok(None);
    }
    Ok(Some(Arc::new(single)))
}
