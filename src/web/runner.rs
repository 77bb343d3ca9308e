//! The web pages' SQL: the same path as a Flight SQL statement — the
//! user's own engine session (a reader's carries the reader rules), the
//! role check on the plan, a query slot, the query timeout and memory
//! cap, and an audit row.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use tonic::{Code, Status};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::report::Runner;
use crate::server::audit::Pending;
use crate::server::limits::Gate;
use crate::server::roles::authorize;
use crate::server::session::Session;
use crate::server::wire::engine_status;

/// One web session's statements, within the server's limits.
pub struct WebRunner<'a> {
    /// Whose statements these are.
    pub session: Arc<Session>,
    /// The server's slots, timeout and memory cap.
    pub gate: &'a Gate,
}

/// A refusal stays a refusal; anything else becomes its message.
fn from_status(status: Status) -> Error {
    match status.code() {
        Code::PermissionDenied => Error::Refused(status.message().to_string()),
        _ => Error::Usage(status.message().to_string()),
    }
}

#[async_trait]
impl Runner for WebRunner<'_> {
    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let permit = self.gate.slot().await.map_err(from_status)?;
        let deadline = self.gate.deadline();
        let mut audit = Pending::start(&self.session, sql);
        let session = &self.session;
        let gate = self.gate;
        let audit_ref = &mut audit;
        let work = async move {
            let engine = &session.engine;
            let planned = engine.plan(sql).await.map_err(engine_status)?;
            audit_ref.reads(&planned);
            authorize(session.user.role, &planned, &engine.lake().location)
                .map_err(Status::permission_denied)?;
            let df = engine.execute(planned).await.map_err(engine_status)?;
            gate.cap_memory(df)
                .collect()
                .await
                .map_err(|e| engine_status(Error::DataFusion(e)))
        };
        let result = gate.before(deadline, work).await;
        drop(permit);
        match result {
            Ok(batches) => {
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                audit.ok(rows as i64).await.map_err(from_status)?;
                Ok(batches)
            }
            Err(status) => Err(from_status(audit.failed(status).await)),
        }
    }

    fn lake(&self) -> &Lake {
        self.session.engine.lake()
    }

    fn catalog(&self) -> &Catalog {
        self.session.engine.catalog()
    }
}
