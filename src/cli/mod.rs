//! The `microseg` command: `sql`, `serve`, `users`, `generate`, `demo`,
//! `materialize`, `vacuum`, `forget`, `report` and `cluster`.

mod cluster;
mod demo;
mod forget;
mod generate;
mod materialize;
pub mod output;
mod repl;
pub mod report;
mod run;
mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::EngineOptions;
use crate::error::Result;
use output::Format;

/// Customer micro-segmentation expressed and executed as SQL.
#[derive(Debug, Parser)]
#[command(name = "microseg", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL against a lake: interactively, with -c, or a script with -f.
    Sql(SqlArgs),
    /// Write a synthetic customer lake (deterministic for a seed).
    Generate(generate::GenerateArgs),
    /// Generate ./demo-lake if missing and run sql/demo.sql against it.
    Demo(demo::DemoArgs),
    /// Write the segment report: one self-contained HTML page of charts.
    Report(report::ReportArgs),
    /// Serve the lake to BI tools over Arrow Flight SQL.
    Serve(serve::ServeArgs),
    /// Manage the users of `microseg serve` (add, token, remove).
    Users(serve::UsersArgs),
    /// Run a job file: write its segment tables into the lake as Delta tables.
    Materialize(materialize::MaterializeArgs),
    /// Delete files of interrupted runs and of expired versions from Delta tables.
    Vacuum(materialize::VacuumArgs),
    /// Forget a customer: suppress them everywhere, rewrite Delta tables without them, vacuum old versions.
    Forget(forget::ForgetArgs),
    /// Run the scheduler or an executor of a cluster (`sql --cluster` runs queries there).
    Cluster(cluster::ClusterArgs),
}

/// Where the lake is and how the engine is sized.
#[derive(Debug, Args, Clone)]
pub struct LakeArgs {
    /// Lake root: a path, file://, s3://bucket/prefix, gs://…, az://… or memory://name.
    #[arg(long, env = "MICROSEG_LAKE", default_value = "demo-lake")]
    pub lake: String,
    /// Config file to use instead of microseg.toml at the lake root.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Memory for query execution, e.g. 8GiB, 512MB or 60% (of RAM).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Directory for spill files when memory runs out.
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Partitions each query is split into (default: number of cores).
    #[arg(long)]
    pub target_partitions: Option<usize>,
    /// Session time zone (default UTC).
    #[arg(long)]
    pub time_zone: Option<String>,
}

impl LakeArgs {
    fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            config: self.config.clone(),
            memory_limit: self.memory_limit.clone(),
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.target_partitions,
            time_zone: self.time_zone.clone(),
        }
    }
}

#[derive(Debug, Args)]
struct SqlArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Run these statements and exit.
    #[arg(short = 'c', long = "command", conflicts_with = "file")]
    command: Option<String>,
    /// Run the statements of this file in order; stop at the first error.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the (last) result into this file (.parquet, .csv, .json, .ndjson).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Rows shown by the table format.
    #[arg(long, default_value_t = 1000)]
    max_rows: usize,
    /// Print no row counts or timings on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    cluster: ClusterTarget,
}

/// `--cluster df://HOST:PORT`, shared by `sql`, `serve` and `materialize`.
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterTarget {
    /// Execute queries on the cluster whose scheduler is at df://HOST:PORT
    /// (planning stays here).
    #[arg(long, env = "MICROSEG_CLUSTER")]
    pub cluster: Option<String>,
}

impl ClusterTarget {
    /// Opens the lake's engine, executing on the cluster when one is named.
    async fn open(&self, lake: &LakeArgs) -> Result<crate::Engine> {
        let engine = crate::Engine::open(&lake.lake, lake.engine_options()).await?;
        match &self.cluster {
            Some(address) => crate::cluster::connect(engine, address).await,
            None => Ok(engine),
        }
    }
}

/// Runs the command line; the returned error is printed by `main`.
pub async fn main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Sql(args) => {
            let engine = args.cluster.open(&args.lake).await?;
            let opts = run::RunOptions {
                format: args.format,
                output: args.output,
                max_rows: args.max_rows,
                quiet: args.quiet,
                captions: false,
            };
            match (args.command, args.file) {
                (Some(sql), _) => run::run_script(&engine, &sql, None, &opts).await,
                (None, Some(path)) => {
                    let script = std::fs::read_to_string(&path).map_err(|e| {
                        crate::Error::Usage(format!("cannot read {}: {e}", path.display()))
                    })?;
                    run::run_script(&engine, &script, Some(&path), &opts).await
                }
                (None, None) => repl::repl(&engine, &opts).await,
            }
        }
        Command::Generate(args) => generate::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Report(args) => report::run(args)
            .await
            .map(|path| println!("{}", path.display())),
        Command::Serve(args) => serve::serve(args).await,
        Command::Users(args) => serve::users(args),
        Command::Materialize(args) => materialize::materialize(args).await,
        Command::Vacuum(args) => materialize::vacuum(args).await,
        Command::Forget(args) => forget::run(args).await,
        Command::Cluster(args) => cluster::run(args).await,
    }
}
