//! The client's query planner on a cluster: pins every table the client
//! reads at scan time (Delta tables to the file list of the version the
//! statement reads, identity graph components to their rows), then hands
//! the plan to Ballista's planner, which sends it to the scheduler. It also
//! gives empty relations a form that keeps their columns on the wire.
//!
//! Pinning happens here, not on the scheduler, because the client is
//! where the statement's version is chosen (one version per statement,
//! the same rule as a local run) and where the lake's Delta log was
//! already read.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef, ScalarValue};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{
    EmptyRelation, Expr, Filter, LogicalPlan, Projection, TableScan, TableScanBuilder, lit,
};
use datafusion::physical_plan::ExecutionPlan;

use crate::delta::{TABLE_AT, bound_table_at, pin_files};
use crate::tables::identity::Components;

/// What a table the client reads at scan time becomes in a plan for the
/// cluster: a Delta table its pinned file list, an identity graph's
/// components their rows (shipped by the codec). `None`: left as it is.
async fn pin(
    provider: &dyn TableProvider,
    started: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<Result<Arc<dyn TableProvider>>> {
    if let Some(files) = pin_files(provider, started).await {
        return Some(files.map(|f| Arc::new(f) as _));
    }
    let components = provider.downcast_ref::<Components>()?;
    Some(components.rows().await.map(|rows| Arc::new(rows) as _))
}

/// Wraps the planner that sends plans to the cluster.
#[derive(Debug)]
pub(super) struct PinDeltaTables {
    pub(super) inner: Arc<dyn QueryPlanner + Send + Sync>,
    /// Where a job abandoned by its reader is cancelled.
    pub(super) scheduler_url: String,
}

#[async_trait]
impl QueryPlanner for PinDeltaTables {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let started = session.execution_props().query_execution_start_time;
        // `table_at(t, $1)` after EXECUTE bound it: a scan of the version
        // it names, pinned below like a constant `table_at`.
        let logical_plan = logical_plan
            .clone()
            .transform_up_with_subqueries(|node| {
                if let LogicalPlan::Extension(ext) = &node
                    && let Some(provider) = bound_table_at(ext.node.as_ref())
                {
                    let scan =
                        TableScanBuilder::new(TABLE_AT, provider_as_source(provider?)).build()?;
                    return Ok(Transformed::yes(LogicalPlan::TableScan(scan)));
                }
                Ok(Transformed::no(node))
            })?
            .data;
        // Load every Delta scan's file list first (async), then swap the
        // providers in one pass.
        let mut scans = Vec::new();
        logical_plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Ok(provider) = source_as_provider(&scan.source)
            {
                scans.push(provider);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let mut pinned = Vec::new();
        for provider in scans {
            if let Some(fixed) = pin(provider.as_ref(), started).await {
                pinned.push((provider, fixed?));
            }
        }
        let plan = logical_plan
            .transform_up_with_subqueries(|node| match &node {
                LogicalPlan::TableScan(scan) => {
                    let Ok(provider) = source_as_provider(&scan.source) else {
                        return Ok(Transformed::no(node));
                    };
                    let Some((_, fixed)) = pinned.iter().find(|(p, _)| Arc::ptr_eq(p, &provider))
                    else {
                        return Ok(Transformed::no(node));
                    };
                    let mut rebuilt: TableScan = scan.clone();
                    rebuilt.source = provider_as_source(Arc::clone(fixed));
                    Ok(Transformed::yes(LogicalPlan::TableScan(rebuilt)))
                }
                LogicalPlan::EmptyRelation(empty)
                    if !empty.produce_one_row && !empty.schema.fields().is_empty() =>
                {
                    Ok(Transformed::yes(typed_empty(&empty.schema)?))
                }
                _ => Ok(Transformed::no(node)),
            })?
            .data;
        let physical = self.inner.create_physical_plan(&plan, session).await?;
        Ok(super::cancel::cancel_on_drop(physical, &self.scheduler_url))
    }
}

/// An empty relation that keeps its columns through serialization.
///
/// DataFusion's protobuf form of `EmptyRelation` has no schema, so a
/// subtree the optimizer proved empty (`WHERE false`) reaches the
/// scheduler without the columns its parent reads. The same empty result
/// as typed NULLs, filtered away, carries them.
fn typed_empty(schema: &DFSchemaRef) -> Result<LogicalPlan> {
    let one_row = LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        schema: Arc::new(DFSchema::empty()),
    });
    let none = LogicalPlan::Filter(Filter::try_new(lit(false), Arc::new(one_row))?);
    let columns = schema
        .iter()
        .map(|(qualifier, field)| {
            let null = lit(ScalarValue::try_from(field.data_type())?);
            Ok(null.alias_qualified(qualifier.cloned(), field.name()))
        })
        .collect::<Result<Vec<Expr>>>()?;
    Ok(LogicalPlan::Projection(Projection::try_new(
        columns,
        Arc::new(none),
    )?))
}
