//! A physical optimizer rule: an aggregation by one integer key (a customer
//! id) runs as a [`DenseAggregateExec`], without the hash repartition and
//! the hash table of DataFusion's plan.
//!
//! DataFusion aggregates by key in two steps joined by a shuffle: the rows
//! (or partial states) are hashed and sent to the partition owning their
//! key, where a hash table finds each key's group. For 12.5M orders of
//! 945k customers that is 40% of `clv_summary`'s time. Customer ids are
//! dense whole numbers, so here each input partition finds a group by
//! indexing a table with the key, and the partitions' groups are merged
//! once at the end.
//!
//! The operator does not spill. It runs where its estimated memory (per
//! group, at most one per row or per key in the key column's range; per
//! row for `clv_periods`) fits in half the query's memory limit, known when
//! it starts; otherwise it runs the plan it replaced, which spills. Only
//! aggregates whose states have a fixed width (count, sum, min and max of
//! numbers, …) or are bounded by their input (`clv_periods`) qualify, so
//! that estimate holds. The rule replaces an aggregation only where nothing
//! above relies on its output being hash-partitioned (a partitioned join, a
//! union interleaving partitions): where each operator above it is known
//! to gather its input or to work partition by partition up to one that does.
//! The cluster's scheduler does not install it; the plans give the same rows.

mod exec;
mod slots;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    Distribution, ExecutionPlan, ExecutionPlanProperties, InputOrderMode, StatisticsArgs,
    StatisticsContext,
};

pub use exec::DenseAggregateExec;

use super::single_phase::WHOLE_INPUT_STATES;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;

/// Bytes a group costs beside its states: table slots (up to four per
/// group while the table is allowed to grow) and its key.
const GROUP_BYTES: usize = 24;
/// Bytes per input row of an aggregate that keeps its input: the flat list
/// of `clv_periods` holds 24, its bits far less.
const WHOLE_INPUT_ROW_BYTES: usize = 24;
/// Bytes per group of such an aggregate: `clv_periods`' head and words.
const WHOLE_INPUT_GROUP_BYTES: usize = 48;

/// Plans [`DenseAggregateExec`] for aggregations by one integer key.
#[derive(Debug, Default)]
pub struct DenseGroupAggregate;

impl DenseGroupAggregate {
    /// Rewrites the children, then `plan`. `placed`: whether the node
    /// above relies on `plan`'s partitioning.
    fn rewrite(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        placed: bool,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let required = plan.input_distribution_requirements().into_per_child();
        let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        let mut changed = false;
        let mut rewritten = Vec::with_capacity(children.len());
        for (child, distribution) in children.iter().zip(required) {
            let child_placed = match distribution {
                Distribution::SinglePartition => false,
                Distribution::UnspecifiedDistribution => match plan.name() {
                    // They gather or redistribute whatever they are given.
                    "CoalescePartitionsExec" | "SortPreservingMergeExec" | "RepartitionExec" => {
                        false
                    }
                    // Partition by partition: their output is placed as
                    // their input, so it matters as much as theirs does.
                    "ProjectionExec"
                    | "FilterExec"
                    | "CoalesceBatchesExec"
                    | "AggregateExec"
                    | "SortExec" => placed,
                    // Others may rely on it (a union that interleaves
                    // its inputs' hash partitions).
                    _ => true,
                },
                // Partitioned by key (the name differs across versions).
                _ => true,
            };
            let new = self.rewrite(Arc::clone(child), child_placed)?;
            changed |= !Arc::ptr_eq(&new, child);
            rewritten.push(new);
        }
        let plan = if changed {
            replace_children_if_necessary(plan, rewritten)?
        } else {
            plan
        };
        if placed && plan.output_partitioning().partition_count() > 1 {
            return Ok(plan);
        }
        Ok(self.dense(&plan)?.unwrap_or(plan))
    }

    fn dense(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(top) = plan.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        if top.limit_options().is_some() || !top.dynamic_expressions_produced().is_empty() {
            return Ok(None);
        }
        // The node that reads the rows: the top one, or the partial
        // aggregate below a final one.
        let first = match top.mode() {
            AggregateMode::Single | AggregateMode::SinglePartitioned => top,
            AggregateMode::Final | AggregateMode::FinalPartitioned => {
                match below_exchanges(top.input()).downcast_ref::<AggregateExec>() {
                    Some(partial) if *partial.mode() == AggregateMode::Partial => partial,
                    _ => return Ok(None),
                }
            }
            AggregateMode::Partial | AggregateMode::PartialReduce => return Ok(None),
        };
        let group = first.group_expr();
        if !group.is_single()
            || group.expr().len() != 1
            || first.limit_options().is_some()
            || *first.input_order_mode() != InputOrderMode::Linear
            || !first.aggr_expr().iter().all(|a| qualifies(a))
        {
            return Ok(None);
        }
        let (key, name) = &group.expr()[0];
        if !is_whole_number(&key.data_type(&first.input_schema())?) {
            return Ok(None);
        }
        let input = below_exchanges(first.input());
        let statistics =
            StatisticsContext::new().compute(input.as_ref(), &StatisticsArgs::new())?;
        let rows = match statistics.num_rows {
            Precision::Exact(n) | Precision::Inexact(n) => n,
            Precision::Absent => return Ok(None),
        };
        // At most one group per row, and per key between the column's
        // smallest and largest when its statistics say.
        let groups = key
            .downcast_ref::<Column>()
            .and_then(|c| statistics.column_statistics.get(c.index()))
            .and_then(|c| key_span(c.min_value.get_value()?, c.max_value.get_value()?))
            .map_or(rows, |span| span.min(rows as u64) as usize);
        let need = memory_need(rows, groups, first.aggr_expr());
        Ok(Some(Arc::new(DenseAggregateExec::new(
            Arc::clone(input),
            (Arc::clone(key), name.clone()),
            first.aggr_expr().to_vec(),
            first.filter_expr().to_vec(),
            top.schema(),
            (rows, need),
            Arc::clone(plan),
        ))))
    }
}

/// The groups' keys between `min` and `max` (NULL's group aside).
fn key_span(min: &ScalarValue, max: &ScalarValue) -> Option<u64> {
    let as_i128 = |v: &ScalarValue| match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(v)) => Some(v as i128),
        _ => None,
    };
    let span = as_i128(max)? - as_i128(min)? + 2;
    u64::try_from(span).ok()
}

/// The memory the operator may hold for `groups` groups of `rows` rows:
/// what each group costs, with its fixed-width states counted twice (their
/// vectors grow by doubling), and the per-row bytes of aggregates that keep
/// their input.
fn memory_need(rows: usize, groups: usize, aggregates: &[Arc<AggregateFunctionExpr>]) -> usize {
    let mut per_group = GROUP_BYTES;
    let mut per_row = 0;
    for a in aggregates {
        if WHOLE_INPUT_STATES.contains(&a.fun().name()) {
            per_group += WHOLE_INPUT_GROUP_BYTES;
            per_row += WHOLE_INPUT_ROW_BYTES;
        } else {
            let widths: usize = a.state_fields().map_or(0, |fields| {
                fields
                    .iter()
                    .map(|f| f.data_type().primitive_width().unwrap_or(1) + 1)
                    .sum()
            });
            per_group += 2 * widths;
        }
    }
    groups
        .saturating_mul(per_group)
        .saturating_add(rows.saturating_mul(per_row))
}

/// Aggregates whose memory the estimate covers: fixed-width states, or a
/// state bounded by the input (`clv_periods`); no DISTINCT, no ORDER BY.
fn qualifies(a: &AggregateFunctionExpr) -> bool {
    let fixed = a.state_fields().is_ok_and(|fields| {
        fields.iter().all(|f| {
            f.data_type().primitive_width().is_some() || *f.data_type() == DataType::Boolean
        })
    });
    a.groups_accumulator_supported()
        && !a.is_distinct()
        && a.order_bys().is_empty()
        && (fixed || WHOLE_INPUT_STATES.contains(&a.fun().name()))
}

/// Key types that convert to i64 and back without loss.
fn is_whole_number(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

/// The plan under the repartitions and coalescing that only move rows
/// between partitions: the operator reads every partition itself.
fn below_exchanges(mut plan: &Arc<dyn ExecutionPlan>) -> &Arc<dyn ExecutionPlan> {
    while plan.fetch().is_none()
        && (plan.downcast_ref::<RepartitionExec>().is_some()
            || plan.downcast_ref::<CoalescePartitionsExec>().is_some()
            || is_coalesce_batches(plan))
    {
        plan = plan.children()[0];
    }
    plan
}

/// `CoalesceBatchesExec` is deprecated but may still appear in plans.
fn is_coalesce_batches(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.name() == "CoalesceBatchesExec"
}

impl PhysicalOptimizerRule for DenseGroupAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Whoever runs the plan reads all its partitions.
        self.rewrite(plan, false)
    }

    fn name(&self) -> &str {
        "microseg_dense_group_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
