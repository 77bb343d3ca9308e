//! The client's query planner on a cluster: pins every Delta table a plan
//! reads to the file list of the version the statement reads, then hands
//! the plan to Ballista's planner, which sends it to the scheduler.
//!
//! Pinning happens here, not on the scheduler, because the client is
//! where the statement's version is chosen (one version per statement,
//! the same rule as a local run) and where the lake's Delta log was
//! already read.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::physical_plan::ExecutionPlan;

use crate::delta::pin_files;

/// Wraps the planner that sends plans to the cluster.
#[derive(Debug)]
pub(super) struct PinDeltaTables {
    pub(super) inner: Arc<dyn QueryPlanner + Send + Sync>,
}

#[async_trait]
impl QueryPlanner for PinDeltaTables {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let started = session.execution_props().query_execution_start_time;
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
            if let Some(files) = pin_files(provider.as_ref(), started).await {
                pinned.push((provider, Arc::new(files?)));
            }
        }
        if pinned.is_empty() {
            return self.inner.create_physical_plan(logical_plan, session).await;
        }
        let plan = logical_plan
            .clone()
            .transform_up_with_subqueries(|node| {
                let LogicalPlan::TableScan(scan) = &node else {
                    return Ok(Transformed::no(node));
                };
                let Ok(provider) = source_as_provider(&scan.source) else {
                    return Ok(Transformed::no(node));
                };
                let Some((_, files)) = pinned.iter().find(|(p, _)| Arc::ptr_eq(p, &provider))
                else {
                    return Ok(Transformed::no(node));
                };
                let mut rebuilt: TableScan = scan.clone();
                rebuilt.source = provider_as_source(Arc::clone(files) as _);
                Ok(Transformed::yes(LogicalPlan::TableScan(rebuilt)))
            })?
            .data;
        self.inner.create_physical_plan(&plan, session).await
    }
}
