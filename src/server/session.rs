//! One authenticated client's state: its own engine session (so `SET`
//! persists across its calls and no further), its prepared statements and
//! the results it has asked for but not fetched yet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use tokio::sync::OwnedSemaphorePermit;

use super::prepared::Prepared;
use super::users::{Identity, new_secret};
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
    created: Instant,
}

impl PendingResult {
    /// A result to stream later.
    pub fn new(
        schema: SchemaRef,
        frames: Vec<DataFrame>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        PendingResult {
            schema,
            frames,
            permit,
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
}

impl Session {
    /// A session for `user` lasting `ttl` (`Duration::MAX`: no expiry).
    pub fn new(user: Identity, engine: Engine, ttl: Duration) -> Session {
        Session {
            user,
            engine,
            expires: Instant::now().checked_add(ttl),
            results: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
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
