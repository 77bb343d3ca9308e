//! `microseg cluster executor`: Ballista's executor with microseg's
//! functions and codecs, a memory pool and a spill directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::RuntimeProducer;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// How long a starting executor may take to register and open its ports.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Where the executor listens and what it may use.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's gRPC address, `HOST:PORT`.
    pub scheduler: String,
    /// Address of the Arrow Flight port that serves shuffle data.
    pub bind: SocketAddr,
    /// The gRPC port the scheduler pushes tasks to (default: Flight port + 1).
    pub grpc_port: Option<u16>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat: u64,
    /// Shuffle and spill files (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// Memory pool over all tasks, bytes (default: 70% of the machine's).
    pub memory_limit: Option<u64>,
    /// Tasks run at once (default: number of cores).
    pub concurrent_tasks: Option<usize>,
}

impl ExecutorOptions {
    /// Defaults for an executor of the scheduler at `scheduler`.
    pub fn new(scheduler: impl Into<String>) -> Self {
        Self {
            scheduler: scheduler.into(),
            bind: SocketAddr::from(([0, 0, 0, 0], 50060)),
            grpc_port: None,
            heartbeat: 60,
            work_dir: None,
            memory_limit: None,
            concurrent_tasks: None,
        }
    }

    fn grpc_port(&self) -> Result<u16> {
        match self.grpc_port {
            Some(p) => Ok(p),
            None => self.bind.port().checked_add(1).ok_or_else(|| {
                Error::Usage(format!(
                    "executor: --bind port {} leaves no port for gRPC: give --grpc-port",
                    self.bind.port()
                ))
            }),
        }
    }
}

/// An executor registered with its scheduler, serving until it gets
/// SIGTERM or Ctrl-C (or, in-process, until the runtime ends).
pub struct RunningExecutor {
    flight: SocketAddr,
    task: JoinHandle<Result<()>>,
}

impl RunningExecutor {
    /// The Flight address shuffle readers connect to.
    pub fn flight_addr(&self) -> SocketAddr {
        self.flight
    }

    /// Waits until the executor stops (after SIGTERM/Ctrl-C it tells the
    /// scheduler and drains its tasks first).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| Error::Usage(format!("executor: {e}")))?
    }
}

fn host_port(address: &str) -> Result<(String, u16)> {
    let bad = || {
        Error::Usage(format!(
            "executor: --scheduler {address}: expected HOST:PORT"
        ))
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Checks the scheduler answers, registers with it and starts serving;
/// returns once the executor's ports are open.
pub async fn start_executor(options: &ExecutorOptions) -> Result<RunningExecutor> {
    let (scheduler_host, scheduler_port) = host_port(&options.scheduler)?;
    super::connect::check_reachable(&scheduler_host, scheduler_port, "scheduler").await?;
    let grpc_port = options.grpc_port()?;
    let (logical, physical) = super::codecs()?;
    let functions = super::session_state(SessionConfig::new())?;
    let bind_ip = options.bind.ip();
    let mut config = ExecutorProcessConfig {
        bind_host: bind_ip.to_string(),
        external_host: (!bind_ip.is_unspecified()).then(|| bind_ip.to_string()),
        port: options.bind.port(),
        grpc_port,
        scheduler_host,
        scheduler_port,
        executor_heartbeat_interval_seconds: options.heartbeat.max(1),
        work_dir: options
            .work_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
        memory_pool_size: options.memory_limit,
        grpc_max_decoding_message_size: super::MAX_MESSAGE_BYTES as u32,
        grpc_max_encoding_message_size: super::MAX_MESSAGE_BYTES as u32,
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&functions))),
        override_runtime_producer: Some(runtime_producer(options.work_dir.clone())),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        ..Default::default()
    };
    if let Some(n) = options.concurrent_tasks {
        if n == 0 {
            return Err(Error::Usage(
                "executor: --concurrent-tasks must be at least 1".into(),
            ));
        }
        config.vcores = n;
    }
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Usage(format!(
                "executor: cannot create --work-dir {}: {e}",
                dir.display()
            ))
        })?;
    }
    let scheduler = options.scheduler.clone();
    let task = tokio::spawn(async move {
        start_executor_process(Arc::new(config))
            .await
            .map_err(|e| Error::Usage(format!("executor (scheduler {scheduler}): {e}")))
    });
    // The Flight port opens only after the scheduler has accepted the
    // registration, so an open port means ready.
    let probe = if options.bind.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], options.bind.port()))
    } else {
        options.bind
    };
    let started = Instant::now();
    loop {
        if task.is_finished() {
            return match task.await {
                Ok(Ok(())) => Err(Error::Usage("executor stopped while starting".into())),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(Error::Usage(format!("executor: {e}"))),
            };
        }
        if tokio::net::TcpStream::connect(probe).await.is_ok() {
            break;
        }
        if started.elapsed() > READY_WITHIN {
            task.abort();
            return Err(Error::Usage(format!(
                "executor: not serving on {} after {}s",
                options.bind,
                READY_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(RunningExecutor {
        flight: options.bind,
        task,
    })
}

/// Task runtimes whose object stores come from this process's environment
/// (a plan names `s3://…` files; the client's credentials stay with the
/// client). Ballista puts each task's memory pool on top.
fn runtime_producer(work_dir: Option<std::path::PathBuf>) -> RuntimeProducer {
    Arc::new(move |_| {
        let mut runtime =
            RuntimeEnvBuilder::new().with_object_store_registry(crate::lake::env_stores());
        if let Some(dir) = &work_dir {
            runtime = runtime.with_temp_file_path(dir);
        }
        runtime.build_arc()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses_are_checked() {
        assert_eq!(
            host_port("localhost:50050").unwrap(),
            ("localhost".into(), 50050)
        );
        assert_eq!(host_port("[::1]:7").unwrap(), ("::1".into(), 7));
        for bad in ["localhost", ":50050", "host:port", "host:99999"] {
            let err = host_port(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("HOST:PORT"), "{err}");
        }
    }

    #[test]
    fn grpc_port_follows_the_flight_port() {
        let mut o = ExecutorOptions::new("localhost:50050");
        assert_eq!(o.grpc_port().unwrap(), 50061);
        o.grpc_port = Some(7000);
        assert_eq!(o.grpc_port().unwrap(), 7000);
        o.grpc_port = None;
        o.bind.set_port(u16::MAX);
        assert!(
            o.grpc_port()
                .unwrap_err()
                .to_string()
                .contains("--grpc-port")
        );
    }
}
