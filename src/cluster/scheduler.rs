//! `microseg cluster scheduler`: Ballista's scheduler with microseg's
//! session (functions, codecs) on one gRPC port.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// How the scheduler listens and when it gives up on a silent executor.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address of the gRPC port (port 0: any free port).
    pub bind: SocketAddr,
    /// Seconds without a heartbeat after which an executor is lost and its
    /// tasks are run elsewhere.
    pub executor_timeout: u64,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 50050)),
            executor_timeout: 180,
        }
    }
}

/// A scheduler serving in the background until dropped or stopped.
pub struct RunningScheduler {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningScheduler {
    /// The bound address (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving: running jobs are abandoned, clients get an error.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for RunningScheduler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds the port and serves in the background.
pub async fn start_scheduler(options: &SchedulerOptions) -> Result<RunningScheduler> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| Error::Usage(format!("scheduler: cannot listen on {}: {e}", options.bind)))?;
    let addr = listener.local_addr()?;
    let (logical, physical) = super::codecs()?;
    let timeout = options.executor_timeout.max(1);
    let host = if addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    };
    let mut config = SchedulerConfig::default()
        .with_hostname(host)
        .with_port(addr.port())
        .with_grpc_server_max_decoding_message_size(super::MAX_MESSAGE_BYTES as u32)
        .with_grpc_server_max_encoding_message_size(super::MAX_MESSAGE_BYTES as u32)
        .with_grpc_client_max_message_size(super::MAX_MESSAGE_BYTES as u32)
        .with_no_executors_grace_period_seconds(timeout);
    config.bind_host = addr.ip().to_string();
    config.executor_timeout_seconds = timeout;
    // Checked often enough that a lost executor is noticed within the timeout.
    config.expire_dead_executor_interval_seconds = (timeout / 3).clamp(1, 15);
    config.override_session_builder = Some(Arc::new(super::session_state));
    config.override_logical_codec = Some(logical);
    config.override_physical_codec = Some(physical);
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| Error::Usage(format!("scheduler: {e}")))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| Error::Usage(format!("scheduler: {e}")))?;
    let task = tokio::spawn(async move {
        if let Err(e) = start_grpc_service_with_listener(listener, scheduler).await {
            eprintln!("error: scheduler on {addr}: {e}");
        }
    });
    Ok(RunningScheduler { addr, task })
}
