//! Scale out on an Apache DataFusion Ballista cluster: the scheduler and
//! executor embedded in our own binary (so every process knows microseg's
//! functions), and the client side that runs an engine's plans there.
//!
//! Statements are planned by the client exactly as locally (our statements,
//! segment sets expanded, models bound by the analyzer); only execution
//! moves. Plans travel through [`codec`], which carries bound models.

mod cancel;
pub mod codec;
mod connect;
mod executor;
mod pin;
mod scheduler;
mod series;
mod subqueries;

pub use cancel::job_id;
pub use connect::{ClusterAddress, connect};
pub use executor::{ExecutorOptions, RunningExecutor, start_executor};
pub use scheduler::{RunningScheduler, SchedulerOptions, start_scheduler};

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use datafusion::common::Result as DFResult;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;

use codec::{Functions, LogicalCodec, PhysicalCodec};

/// gRPC message limit for plans and results on every cluster connection:
/// Ballista's 16 MiB default is too small for plans carrying large models.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// A session with DataFusion's and microseg's functions and Ballista's
/// optimizer rules, no tables, and object stores built from the process's
/// environment: what the scheduler plans with and what the executors
/// resolve function names against.
pub fn session_state(config: SessionConfig) -> DFResult<SessionState> {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(crate::lake::env_stores())
        .build_arc()?;
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .build();
    microseg_udfs::register_all(&mut state)?;
    Ok(state)
}

/// The functions of [`session_state`], shared by the codecs of one process.
fn functions() -> DFResult<Arc<Functions>> {
    let state = session_state(SessionConfig::new_with_ballista())?;
    Ok(Arc::new(Functions::of(&state)))
}

/// Both codecs over the same function table.
fn codecs() -> DFResult<(Arc<LogicalCodec>, Arc<PhysicalCodec>)> {
    let functions = functions()?;
    Ok((
        Arc::new(LogicalCodec::new(Arc::clone(&functions))),
        Arc::new(PhysicalCodec::new(functions)),
    ))
}
