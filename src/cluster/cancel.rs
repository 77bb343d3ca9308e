//! A cluster job ends with its reader. Ballista's client stream, when
//! dropped, only stops polling the scheduler: the job keeps its executors'
//! task slots until it completes. A Flight SQL query stopped by
//! `--query-timeout` or CancelFlightInfo, a client that hangs up, or a
//! `LIMIT` satisfied early all drop the stream, so the plan the client runs
//! is wrapped here: dropped before its end, it asks the scheduler to cancel
//! the job, which aborts the job's running tasks on every executor.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties, RecordBatchStream,
};
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::{Stream, StreamExt};

type Distributed = DistributedQueryExec<LogicalPlanNode>;

/// Wraps `plan` when it is a job for the scheduler at `scheduler_url`;
/// plans Ballista runs in the client (information_schema) stay as they are.
pub(super) fn cancel_on_drop(
    plan: Arc<dyn ExecutionPlan>,
    scheduler_url: &str,
) -> Arc<dyn ExecutionPlan> {
    if !plan.is::<Distributed>() {
        return plan;
    }
    Arc::new(CancelOnDrop {
        inner: plan,
        scheduler_url: scheduler_url.to_string(),
    })
}

/// The scheduler's id of the job `plan` started, once it was accepted:
/// what an operator or a test asks the scheduler about.
pub fn job_id(plan: &dyn ExecutionPlan) -> Option<String> {
    let inner = match plan.downcast_ref::<CancelOnDrop>() {
        Some(wrapper) => wrapper.inner.as_ref(),
        None => plan,
    };
    Some(inner.downcast_ref::<Distributed>()?.job_id()?.to_string())
}

/// A cluster job whose result stream cancels the job when dropped early.
#[derive(Debug)]
struct CancelOnDrop {
    inner: Arc<dyn ExecutionPlan>,
    scheduler_url: String,
}

impl DisplayAs for CancelOnDrop {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "CancelOnDrop: scheduler={}", self.scheduler_url)
    }
}

impl ExecutionPlan for CancelOnDrop {
    fn name(&self) -> &str {
        "CancelOnDrop"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.inner]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("CancelOnDrop takes one child, got {}", children.len());
        }
        Ok(cancel_on_drop(children.remove(0), &self.scheduler_url))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.inner.execute(partition, context)?;
        Ok(Box::pin(CancelStream {
            schema: stream.schema(),
            stream,
            plan: Arc::clone(&self.inner),
            scheduler_url: self.scheduler_url.clone(),
            ended: false,
        }))
    }
}

struct CancelStream {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    scheduler_url: String,
    /// The job finished or failed on its own: nothing to cancel.
    ended: bool,
}

impl Stream for CancelStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.stream.poll_next_unpin(cx);
        if matches!(next, Poll::Ready(None | Some(Err(_)))) {
            self.ended = true;
        }
        next
    }
}

impl RecordBatchStream for CancelStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Drop for CancelStream {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // No id: the job was never accepted, or its submission is dropped
        // with this stream before the scheduler answered.
        let Some(job) = job_id(self.plan.as_ref()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            log::warn!("cluster job {job} was abandoned outside a runtime and is not cancelled");
            return;
        };
        let url = self.scheduler_url.clone();
        runtime.spawn(async move {
            let cancelled = async {
                SchedulerGrpcClient::connect(url.clone())
                    .await?
                    .cancel_job(CancelJobParams {
                        job_id: job.clone(),
                    })
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            };
            match cancelled.await {
                Ok(()) => log::info!("cancelled cluster job {job}: its result was abandoned"),
                Err(e) => log::warn!("could not cancel cluster job {job} at {url}: {e}"),
            }
        });
    }
}
