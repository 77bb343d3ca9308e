//! A per-query cap inside the engine's memory pool.
//!
//! Every query still draws from the one pool of the engine (so all of them
//! together stay within `memory_limit`); the cap stops one query from
//! taking all of it. Spilling operators spill at the cap, others fail with
//! "Resources exhausted", which the client sees as ResourceExhausted.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnv;

/// The engine's pool seen through one query's cap.
#[derive(Debug)]
pub struct QueryPool {
    inner: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl QueryPool {
    /// A cap of `limit` bytes over `inner`.
    pub fn new(inner: Arc<dyn MemoryPool>, limit: usize) -> QueryPool {
        QueryPool {
            inner,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query cap of {} bytes over {}", self.limit, self.inner)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query_cap"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        // Infallible growth is what operators use for memory they already
        // hold; count it, as the engine's pool does.
        self.inner.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
        self.used.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let claimed = self.used.fetch_add(additional, Ordering::Relaxed);
        if claimed + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query needs more than the server's per-query memory limit of {} \
                 ({} in use, {} more asked by {})",
                human(self.limit),
                human(claimed),
                human(additional),
                reservation.consumer().name()
            )));
        }
        if let Err(e) = self.inner.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

fn human(bytes: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// `df` running under its own cap of `limit` bytes of the engine's pool.
pub fn capped(df: DataFrame, limit: usize) -> DataFrame {
    let (state, plan) = df.into_parts();
    let base = state.runtime_env().clone();
    let runtime = RuntimeEnv {
        memory_pool: Arc::new(QueryPool::new(base.memory_pool.clone(), limit)),
        ..base.as_ref().clone()
    };
    let state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(Arc::new(runtime))
        .build();
    DataFrame::new(state, plan)
}
