//! `microseg materialize` and `microseg vacuum`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use clap::Args;

use super::{ClusterTarget, LakeArgs};
use crate::error::{Error, JobFailure, Result};
use crate::jobs::{self, LogFormat};
use crate::server::users::parse_ttl;

/// `microseg materialize JOB.toml`.
#[derive(Debug, Args)]
pub struct MaterializeArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    cluster: ClusterTarget,
    /// The job file, e.g. sql/jobs/daily_segments.toml.
    job: PathBuf,
    /// Snapshot date bound to $as_of (YYYY-MM-DD; default: today, UTC).
    #[arg(long)]
    as_of: Option<String>,
    /// Run only this target (repeatable); default: every target of the job.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Wait this long for a run holding a target's lock, e.g. 10m (default: fail at once).
    #[arg(long, default_value = "0s")]
    wait: String,
    /// A lock's lifetime unless renewed; a crashed run's lock expires after it.
    #[arg(long, default_value = "1h")]
    lock_ttl: String,
    /// text: sentences on stderr; json: one JSON object per line on stdout.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// `microseg vacuum [TABLE…]`.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Delta tables to clean (default: every Delta table of the lake).
    tables: Vec<String>,
    /// Keep files that versions newer than this still use, e.g. 7d; older versions stop being readable.
    #[arg(long, default_value = "7d")]
    retain: String,
    /// Wait this long for a run holding a table's lock.
    #[arg(long, default_value = "0s")]
    wait: String,
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    if text.trim_end_matches(['s', 'm', 'h', 'd']) == "0" {
        return Ok(Duration::ZERO);
    }
    parse_ttl(text).map_err(|e| Error::job(JobFailure::Definition, format!("--{flag}: {e}")))
}

/// Runs a job file.
pub async fn materialize(args: MaterializeArgs) -> Result<()> {
    let as_of = match &args.as_of {
        None => chrono::Utc::now().date_naive(),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
            Error::job(
                JobFailure::Definition,
                format!("--as-of {text:?}: use a date such as 2026-10-31"),
            )
        })?,
    };
    let job = jobs::Job::load(&args.job)?;
    let opts = jobs::RunOptions {
        as_of,
        only: args.targets.clone(),
        wait: duration("wait", &args.wait)?,
        lock_ttl: duration("lock-ttl", &args.lock_ttl)?,
        log: args.log_format,
        progress: args.log_format == LogFormat::Text && std::io::stderr().is_terminal(),
    };
    let engine = args.cluster.open(&args.lake).await?;
    jobs::run(&engine, &job, &opts).await?;
    Ok(())
}

/// Cleans Delta tables: interrupted runs' files and expired versions' files.
pub async fn vacuum(args: VacuumArgs) -> Result<()> {
    let retain = duration("retain", &args.retain)?;
    let wait = duration("wait", &args.wait)?;
    let lake = crate::lake::Lake::open(&args.lake.lake, args.lake.config.as_deref()).await?;
    let tables: Vec<&crate::lake::DeltaTableSpec> = if args.tables.is_empty() {
        lake.delta_tables.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &args.tables {
            let found = lake.delta_tables.iter().find(|t| &t.name == name);
            chosen.push(found.ok_or_else(|| {
                let known: Vec<&str> = lake.delta_tables.iter().map(|t| t.name.as_str()).collect();
                Error::Usage(format!(
                    "vacuum: {name} is not a Delta table of the lake (Delta tables: {})",
                    known.join(", ")
                ))
            })?);
        }
        chosen
    };
    for spec in tables {
        let report = jobs::vacuum(&lake.location, &spec.name, &spec.folder, retain, wait).await?;
        println!(
            "{}: removed {} files of interrupted runs and {} files of versions older than {}",
            report.table, report.orphans, report.expired, args.retain
        );
    }
    Ok(())
}
