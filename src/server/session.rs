//! One authenticated client's state: its own engine session (so `SET`
//! persists across its calls and no further), its prepared statements and
//! the results it has asked for but not fetched yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use tokio::sync::{Notify, OwnedSemaphorePermit};

use super::prepared::Prepared;
use super::roles::{MarketerPolicy, ReaderPolicy};
use super::users::{Identity, Role, new_secret};
use crate::engine::Engine;

/// How long a result announced by GetFlightInfo waits for its DoGet.
pub const RESULT_TTL: Duration = Duration::from_secs(600);

/// A planned result waiting for DoGet: one DataFrame per parameter row.
pub struct PendingResult {
    /// What DoGet sends, as announced in the FlightInfo.
    pub schema: SchemaRef,
    /// Streamed one after another.
    pub frames: Vec<DataFrame>,
    /// The query's place among the concurrent ones, held until it ends.
    pub permit: Option<OwnedSemaphorePermit>,
    /// When the query's time is up: set when it started (at GetFlightInfo),
    /// so planning and DDL count against the same limit as streaming.
    pub deadline: tokio::time::Instant,
    /// The statement's audit row, written when the result has been streamed.
    pub audit: Option<super::audit::Pending>,
    created: Instant,
}

impl PendingResult {
    /// A result to stream later.
    pub fn new(
        schema: SchemaRef,
        frames: Vec<DataFrame>,
        permit: Option<OwnedSemaphorePermit>,
        deadline: tokio::time::Instant,
    ) -> Self {
        PendingResult {
            schema,
            frames,
            permit,
            deadline,
            audit: None,
            created: Instant::now(),
        }
    }
}

/// A client session.
pub struct Session {
    /// Who it belongs to.
    pub user: Identity,
    /// Its own engine session over the shared lake.
    pub engine: Engine,
    expires: Option<Instant>,
    results: Mutex<HashMap<Vec<u8>, PendingResult>>,
    prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
    /// Results being streamed, by handle: notified to stop them.
    running: Mutex<HashMap<Vec<u8>, Arc<Notify>>>,
}

/// What [`Session::cancel`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The result was waiting for DoGet: dropped, never run.
    Pending,
    /// The result was streaming: told to stop.
    Running,
    /// No such result (finished, fetched, or never there).
    Unknown,
}

/// Removes a streaming result's entry when its stream ends or is dropped.
pub struct RunningGuard {
    session: Arc<Session>,
    handle: Vec<u8>,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.session
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.handle);
    }
}

impl Session {
    /// A session for `user` over `base`'s lake, lasting `ttl`
    /// (`Duration::MAX`: no expiry). A reader's engine session carries the
    /// reader rules itself, so training queries and paths are judged too.
    pub fn new(user: Identity, base: &Engine, ttl: Duration) -> Session {
        let engine = match user.role {
            Role::Analyst => base.new_session(),
            Role::Reader => base.restricted_session(Arc::new(ReaderPolicy::new(
                base.lake().location.clone(),
                base.privacy().clone(),
            ))),
            // A marketer without a purpose cannot come from a checked users
            // file; an empty one would match no consent record.
            Role::Marketer => base.restricted_session(Arc::new(MarketerPolicy::new(
                base.lake().location.clone(),
                base.consent_rule(user.purpose.as_deref().unwrap_or_default(), true),
            ))),
        };
        Session {
            user,
            engine,
            expires: Instant::now().checked_add(ttl),
            results: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Past its lifetime.
    pub fn expired(&self) -> bool {
        self.expired_at(Instant::now())
    }

    /// Past its lifetime at `now`.
    pub fn expired_at(&self, now: Instant) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }

    /// Keeps a result for DoGet and returns its handle. Results nobody
    /// fetched are dropped after [`RESULT_TTL`], releasing their slots.
    pub fn put_result(&self, result: PendingResult) -> Vec<u8> {
        let handle = new_secret("r_").into_bytes();
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results.retain(|_, r| r.created.elapsed() < RESULT_TTL);
        results.insert(handle.clone(), result);
        handle
    }

    /// Takes a result out: each is streamed once.
    pub fn take_result(&self, handle: &[u8]) -> Option<PendingResult> {
        self.results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(handle)
    }

    /// Marks `handle` as streaming; the returned notifier fires on cancel,
    /// the guard unregisters it.
    pub fn start_running(self: &Arc<Self>, handle: Vec<u8>) -> (Arc<Notify>, RunningGuard) {
        let notify = Arc::new(Notify::new());
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.clone(), notify.clone());
        let guard = RunningGuard {
            session: self.clone(),
            handle,
        };
        (notify, guard)
    }

    /// CancelFlightInfo for one result handle.
    pub fn cancel(&self, handle: &[u8]) -> Cancelled {
        if self.take_result(handle).is_some() {
            return Cancelled::Pending;
        }
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(handle) {
            Some(notify) => {
                // notify_one keeps a permit if the stream is between polls.
                notify.notify_one();
                Cancelled::Running
            }
            None => Cancelled::Unknown,
        }
    }

    /// Stores a prepared statement and returns its handle.
    pub fn put_prepared(&self, prepared: Prepared) -> Vec<u8> {
        let handle = new_secret("p_").into_bytes();
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.clone(), prepared);
        handle
    }

    /// Runs `f` on the prepared statement `handle`, if this session has it.
    pub fn with_prepared<T>(&self, handle: &[u8], f: impl FnOnce(&mut Prepared) -> T) -> Option<T> {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(handle)
            .map(f)
    }

    /// Frees a prepared statement; false when there was none.
    pub fn close_prepared(&self, handle: &[u8]) -> bool {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(handle)
            .is_some()
    }

    /// Prepared statements held (for tests of closing).
    pub fn prepared_count(&self) -> usize {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
