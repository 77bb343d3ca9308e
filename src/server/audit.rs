//! The audit row of each statement the server serves.
//!
//! A [`Pending`] row starts when a statement arrives; it learns the plan's
//! reads when planned, and is written when the statement ends: an update
//! when its count is known, a query after its last batch and before the
//! stream's end reaches the client (so a client that saw the end has a
//! committed row), a failure when it fails. A result dropped unfinished
//! (client gone, cancelled) is written from its `Drop`.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::error::FlightError;
use datafusion::arrow::array::RecordBatch;
use futures::{Stream, StreamExt};
use tonic::{Code, Status};

use super::session::Session;
use crate::catalog::audit::AuditRow;
use crate::engine::Planned;

/// One statement's row, until it is written.
pub struct Pending {
    row: Option<AuditRow>,
    started: std::time::Instant,
    session: Arc<Session>,
}

impl Pending {
    /// A statement `text` of `session`'s user, arriving now.
    pub fn start(session: &Arc<Session>, text: &str) -> Pending {
        Pending {
            row: Some(AuditRow {
                time: chrono::Utc::now(),
                user: session.user.name.clone(),
                role: session.user.role.to_string(),
                purpose: session.user.purpose.clone(),
                source: "serve".into(),
                statement: text.to_string(),
                tables: Vec::new(),
                personal_columns: Vec::new(),
                rows: None,
                outcome: "error".into(),
                duration_ms: 0.0,
            }),
            started: std::time::Instant::now(),
            session: Arc::clone(session),
        }
    }

    /// Adds what `planned` reads (tables, personal columns).
    pub fn reads(&mut self, planned: &Planned) {
        let (tables, personal) = self.session.engine.reads(planned);
        if let Some(row) = &mut self.row {
            for table in tables {
                if !row.tables.contains(&table) {
                    row.tables.push(table);
                }
            }
            for column in personal {
                if !row.personal_columns.contains(&column) {
                    row.personal_columns.push(column);
                }
            }
        }
    }

    fn take(&mut self, rows: Option<i64>, outcome: String) -> Option<AuditRow> {
        let mut row = self.row.take()?;
        row.rows = rows;
        row.outcome = outcome;
        row.duration_ms = self.started.elapsed().as_secs_f64() * 1e3;
        Some(row)
    }

    /// Writes the row of a statement that finished with `rows`.
    pub async fn ok(mut self, rows: i64) -> Result<(), Status> {
        match self.take(Some(rows), "ok".into()) {
            Some(row) => write(&self.session, row).await,
            None => Ok(()),
        }
    }

    /// Writes the row of a statement that failed with `status`; gives the
    /// status back (an audit failure is logged: the client's error stays).
    pub async fn failed(mut self, status: Status) -> Status {
        if let Some(row) = self.take(None, outcome(&status))
            && let Err(e) = write(&self.session, row).await
        {
            eprintln!("audit log: {}", e.message());
        }
        status
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(row) = self.take(None, "error".into()) {
            let session = Arc::clone(&self.session);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = write(&session, row).await {
                        eprintln!("audit log: {}", e.message());
                    }
                });
            }
        }
    }
}

/// `refused: <rule>` for a refusal, `error` for any other failure.
fn outcome(status: &Status) -> String {
    if status.code() == Code::PermissionDenied {
        format!("refused: {}", status.message())
    } else {
        "error".into()
    }
}

async fn write(session: &Session, row: AuditRow) -> Result<(), Status> {
    session
        .engine
        .append_audit(row)
        .await
        .map_err(|e| Status::internal(format!("{e}")))
}

type Batches = Pin<Box<dyn Stream<Item = Result<RecordBatch, FlightError>> + Send>>;

/// `stream` with `pending`'s row written after its last batch (before the
/// end reaches the client) or at its first error.
pub fn audited(stream: Batches, pending: Pending) -> Batches {
    struct State {
        inner: Batches,
        rows: i64,
        pending: Option<Pending>,
    }
    let state = State {
        inner: stream,
        rows: 0,
        pending: Some(pending),
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        st.pending.as_ref()?;
        match st.inner.next().await {
            Some(Ok(batch)) => {
                st.rows += batch.num_rows() as i64;
                Some((Ok(batch), st))
            }
            Some(Err(e)) => {
                let status = Status::internal(e.to_string());
                if let Some(p) = st.pending.take() {
                    p.failed(status).await;
                }
                Some((Err(e), st))
            }
            None => {
                let p = st.pending.take()?;
                match p.ok(st.rows).await {
                    Ok(()) => None,
                    Err(status) => Some((Err(FlightError::Tonic(Box::new(status))), st)),
                }
            }
        }
    }))
}
