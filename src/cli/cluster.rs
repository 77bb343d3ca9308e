//! `microseg cluster scheduler|executor`: the processes of a Ballista
//! cluster that knows microseg's functions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cluster::{ExecutorOptions, SchedulerOptions};
use crate::error::{Error, Result};

/// `microseg cluster …`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Run a scheduler: it plans jobs into stages and hands tasks to executors.
    Scheduler(SchedulerArgs),
    /// Run an executor: it registers with a scheduler and runs tasks.
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// gRPC address clients (`--cluster df://HOST:PORT`) and executors connect to.
    #[arg(long, default_value = "0.0.0.0:50050")]
    bind: SocketAddr,
    /// Seconds without a heartbeat after which an executor counts as lost.
    #[arg(long, default_value_t = 180)]
    executor_timeout: u64,
}

#[derive(Debug, Args)]
struct ExecutorArgs {
    /// The scheduler's HOST:PORT.
    #[arg(long)]
    scheduler: String,
    /// Arrow Flight address that serves shuffle data to other executors.
    #[arg(long, default_value = "0.0.0.0:50060")]
    bind: SocketAddr,
    /// gRPC port the scheduler sends tasks to (default: the --bind port + 1).
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, default_value_t = 60)]
    heartbeat: u64,
    /// Directory for shuffle and spill files (default: a temporary one).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Memory pool shared by the executor's tasks, e.g. 8GiB or 60% (of RAM).
    #[arg(long)]
    memory_limit: Option<String>,
    /// Tasks run at once (default: number of cores).
    #[arg(long)]
    concurrent_tasks: Option<usize>,
}

pub async fn run(args: ClusterArgs) -> Result<()> {
    match args.command {
        ClusterCommand::Scheduler(args) => scheduler(args).await,
        ClusterCommand::Executor(args) => executor(args).await,
    }
}

async fn scheduler(args: SchedulerArgs) -> Result<()> {
    let options = SchedulerOptions {
        bind: args.bind,
        executor_timeout: args.executor_timeout,
    };
    let scheduler = crate::cluster::start_scheduler(&options).await?;
    eprintln!(
        "microseg cluster scheduler ready on {} (executor timeout {}s)",
        scheduler.addr(),
        options.executor_timeout
    );
    stopped().await?;
    scheduler.stop();
    eprintln!("scheduler stopped");
    Ok(())
}

async fn executor(args: ExecutorArgs) -> Result<()> {
    let memory_limit = match &args.memory_limit {
        Some(text) => Some(
            crate::lake::parse_memory_limit(text, crate::engine::total_memory_bytes())
                .map_err(|e| Error::Usage(format!("--memory-limit: {e}")))? as u64,
        ),
        None => None,
    };
    let options = ExecutorOptions {
        bind: args.bind,
        grpc_port: args.grpc_port,
        heartbeat: args.heartbeat,
        work_dir: args.work_dir,
        memory_limit,
        concurrent_tasks: args.concurrent_tasks,
        ..ExecutorOptions::new(args.scheduler)
    };
    let executor = crate::cluster::start_executor(&options).await?;
    eprintln!(
        "microseg cluster executor ready: flight {}, scheduler {}",
        executor.flight_addr(),
        options.scheduler
    );
    // Ballista's executor handles SIGTERM and Ctrl-C itself: it tells the
    // scheduler, drains its tasks and returns.
    executor.wait().await?;
    eprintln!("executor stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn stopped() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => Ok(()),
            r = tokio::signal::ctrl_c() => Ok(r?),
        }
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::signal::ctrl_c().await?)
    }
}
