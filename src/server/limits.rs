//! What bounds queries: the limits, the slots that admit queries, their
//! deadlines, the memory cap, and the wrapper that ends a result stream at
//! its deadline or on CancelFlightInfo.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::error::FlightError;
use datafusion::arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::Status;

use super::session::RunningGuard;

/// How much the server lets one query and all of them use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Queries running (or announced and not yet fetched) at once.
    pub max_concurrent: usize,
    /// How long a query waits for a free slot before ResourceExhausted.
    pub queue_timeout: Duration,
    /// Longest a query may take, from the call that starts it (GetFlightInfo,
    /// an update's DoPut, CreatePreparedStatement) to its last batch:
    /// planning, DDL, updates (CREATE MODEL's training) and streaming all
    /// count.
    pub query_timeout: Duration,
    /// Bytes of the engine's memory pool one query may hold; no cap when
    /// `None` (the pool itself still bounds all queries together).
    pub query_memory: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent: 32,
            queue_timeout: Duration::from_secs(30),
            query_timeout: Duration::from_secs(3600),
            query_memory: None,
        }
    }
}

/// The limits applied: a semaphore of `max_concurrent` slots plus the
/// timeouts and the memory cap.
pub struct Gate {
    limits: Limits,
    slots: Arc<Semaphore>,
}

impl Gate {
    /// Slots and timeouts as `limits` says.
    pub fn new(limits: Limits) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            limits,
        }
    }

    /// A slot for one query, waiting at most `queue_timeout` for one to free up.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit, Status> {
        match tokio::time::timeout(
            self.limits.queue_timeout,
            self.slots.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Status::unavailable("the server is shutting down")),
            Err(_) => Err(Status::resource_exhausted(format!(
                "{} queries are running and none finished within {:?}; try again later",
                self.limits.max_concurrent, self.limits.queue_timeout
            ))),
        }
    }

    /// When a query starting now must be done.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.limits.query_timeout
    }

    /// Runs `work` (planning, DDL, an update) until `deadline`. Past it the
    /// work is dropped, which drops DataFusion's streams and the tasks
    /// behind them: the query stops and its memory is freed.
    pub async fn before<T>(
        &self,
        deadline: Instant,
        work: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(too_long(self.limits.query_timeout)))
    }

    /// `df` under the per-query memory cap, if one is set.
    pub fn cap_memory(&self, df: DataFrame) -> DataFrame {
        match self.limits.query_memory {
            Some(limit) => super::memory::capped(df, limit),
            None => df,
        }
    }

    /// `stream` ending at `deadline` or when `cancel` fires; `permit` and
    /// `guard` are released when it ends or is dropped.
    pub(super) fn bound<S>(
        &self,
        stream: S,
        deadline: Instant,
        cancel: Arc<tokio::sync::Notify>,
        permit: Option<OwnedSemaphorePermit>,
        guard: RunningGuard,
    ) -> impl Stream<Item = Result<RecordBatch, FlightError>> + Send + use<S>
    where
        S: Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
    {
        let limit = Deadline {
            at: deadline,
            timeout: self.limits.query_timeout,
            cancel,
            _permit: permit,
            _guard: guard,
        };
        limited(stream, limit)
    }
}

/// What bounds a streaming result: its deadline, its cancel signal, and
/// the resources held until the stream ends or is dropped (a client that
/// hangs up frees them; dropping DataFusion's stream stops the query).
struct Deadline {
    at: Instant,
    timeout: Duration,
    cancel: Arc<tokio::sync::Notify>,
    /// Held, never read: released with the stream.
    _permit: Option<OwnedSemaphorePermit>,
    /// Held, never read: unregisters the running result with the stream.
    _guard: RunningGuard,
}

/// Ends the stream with DeadlineExceeded past the deadline, or Cancelled
/// on CancelFlightInfo.
fn limited<S>(
    stream: S,
    limit: Deadline,
) -> impl Stream<Item = Result<RecordBatch, FlightError>> + Send
where
    S: Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
{
    let state = (Box::pin(stream), limit, false);
    futures::stream::unfold(state, |(mut stream, limit, done)| async move {
        if done {
            return None;
        }
        let stop = |status: Status| Err(FlightError::Tonic(Box::new(status)));
        tokio::select! {
            next = tokio::time::timeout_at(limit.at, stream.next()) => match next {
                Ok(Some(item)) => Some((item, (stream, limit, false))),
                Ok(None) => None,
                Err(_) => Some((stop(too_long(limit.timeout)), (stream, limit, true))),
            },
            _ = limit.cancel.notified() => {
                Some((stop(Status::cancelled("the query was cancelled (CancelFlightInfo)")), (stream, limit, true)))
            }
        }
    })
}

/// DeadlineExceeded for a query past `--query-timeout`.
fn too_long(timeout: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "the query ran longer than the server's limit of {timeout:?} (--query-timeout) and was stopped"
    ))
}
