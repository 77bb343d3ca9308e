//! `microseg demo`: a short tour on a generated lake.

use std::path::PathBuf;

use clap::Args;

use super::generate::{generate_with_progress, print_report};
use super::output::Format;
use super::run::{RunOptions, run_script};
use crate::engine::{Engine, EngineOptions};
use crate::error::Result;
use crate::generate::GenerateOptions;

/// The tour, compiled in so `microseg demo` works from any directory.
pub const DEMO_SQL: &str = include_str!("../../sql/demo.sql");

/// The ready segment sets of `sql/segments/`, compiled in; the demo stores
/// them in its lake (CREATE OR REPLACE, so re-running is harmless).
pub const SEGMENT_LIBRARY: [(&str, &str); 3] = [
    (
        "sql/segments/rfm_standard.sql",
        include_str!("../../sql/segments/rfm_standard.sql"),
    ),
    (
        "sql/segments/lifecycle.sql",
        include_str!("../../sql/segments/lifecycle.sql"),
    ),
    (
        "sql/segments/value_tiers.sql",
        include_str!("../../sql/segments/value_tiers.sql"),
    ),
];

/// The trigger views of `sql/triggers/` and the experiment readout of
/// `sql/experiments/`, compiled in; the demo creates them in its session
/// (views only: nothing is written to the lake).
pub const VIEW_LIBRARY: [(&str, &str); 7] = [
    (
        "sql/triggers/abandoned_cart.sql",
        include_str!("../../sql/triggers/abandoned_cart.sql"),
    ),
    (
        "sql/triggers/browse_abandonment.sql",
        include_str!("../../sql/triggers/browse_abandonment.sql"),
    ),
    (
        "sql/triggers/slipping.sql",
        include_str!("../../sql/triggers/slipping.sql"),
    ),
    (
        "sql/triggers/life_events.sql",
        include_str!("../../sql/triggers/life_events.sql"),
    ),
    (
        "sql/triggers/near_store_now.sql",
        include_str!("../../sql/triggers/near_store_now.sql"),
    ),
    (
        "sql/triggers/unhappy.sql",
        include_str!("../../sql/triggers/unhappy.sql"),
    ),
    (
        "sql/experiments/lift_by_segment.sql",
        include_str!("../../sql/experiments/lift_by_segment.sql"),
    ),
];

/// The daily job of `sql/jobs/`, compiled in: the demo materializes it for
/// two dates so the report has a migration to show.
const DAILY_JOB: [(&str, &str); 5] = [
    (
        "daily_segments.toml",
        include_str!("../../sql/jobs/daily_segments.toml"),
    ),
    (
        "daily_segments.sql",
        include_str!("../../sql/jobs/daily_segments.sql"),
    ),
    (
        "daily_segments_setup.sql",
        include_str!("../../sql/jobs/daily_segments_setup.sql"),
    ),
    (
        "rfm_standard.sql",
        include_str!("../../sql/segments/rfm_standard.sql"),
    ),
    (
        "lifecycle.sql",
        include_str!("../../sql/segments/lifecycle.sql"),
    ),
];

/// The identity-resolution job of `sql/jobs/`, compiled in: the demo
/// materializes it before the tour, which ends with a segment of resolved
/// profiles.
const UNIFIED_JOB: [(&str, &str); 4] = [
    (
        "unified_customers.toml",
        include_str!("../../sql/jobs/unified_customers.toml"),
    ),
    (
        "unified_customers_setup.sql",
        include_str!("../../sql/jobs/unified_customers_setup.sql"),
    ),
    (
        "record_profiles.sql",
        include_str!("../../sql/jobs/record_profiles.sql"),
    ),
    (
        "unified_customers.sql",
        include_str!("../../sql/jobs/unified_customers.sql"),
    ),
];

/// Options of `microseg demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Lake folder; generated here when it does not exist.
    #[arg(long, default_value = "demo-lake")]
    pub lake: PathBuf,
    /// Customers to generate when the lake is missing.
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    /// Seed for generation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Run this script instead of the built-in sql/demo.sql.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Where the closing report goes (default: demo-report.html beside the lake).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let started = std::time::Instant::now();
    if !args.lake.exists() {
        eprintln!(
            "no lake at {}: generating {} customers…",
            args.lake.display(),
            args.customers
        );
        let opts = GenerateOptions {
            customers: args.customers,
            seed: args.seed,
            out: args.lake.clone(),
            ..GenerateOptions::default()
        };
        let report = generate_with_progress(opts).await?;
        print_report(&report);
    }
    let location = args.lake.to_string_lossy().into_owned();
    let engine = Engine::open(&location, EngineOptions::default()).await?;
    let script = match &args.script {
        Some(path) => std::fs::read_to_string(path)?,
        None => DEMO_SQL.to_string(),
    };
    let opts = RunOptions {
        format: Format::Table,
        output: None,
        max_rows: 25,
        quiet: false,
        captions: true,
    };
    let quiet = RunOptions {
        quiet: true,
        captions: false,
        ..opts.clone()
    };
    for (file, sql) in SEGMENT_LIBRARY.into_iter().chain(VIEW_LIBRARY) {
        run_script(&engine, sql, Some(std::path::Path::new(file)), &quiet).await?;
    }
    let file = args
        .script
        .as_deref()
        .unwrap_or(std::path::Path::new("sql/demo.sql"));
    let last = last_order_day(&engine).await?;
    eprintln!(
        "\n== The identity job (sql/jobs/unified_customers.toml): raw sources resolved into profiles"
    );
    let unified = compiled_job(&UNIFIED_JOB)?;
    crate::jobs::run(&engine, &unified, &job_options(last)).await?;
    run_script(&engine, &script, Some(file), &opts).await?;
    materialize_two_snapshots(&engine, last).await?;
    drop(engine);
    let out = args
        .report
        .clone()
        .unwrap_or_else(|| args.lake.with_file_name("demo-report.html"));
    let lake = super::LakeArgs {
        lake: location,
        config: None,
        memory_limit: None,
        spill_dir: None,
        target_partitions: None,
        time_zone: None,
    };
    let written = super::report::run(super::report::ReportArgs::for_lake(lake, out)).await?;
    println!("\nreport: {}", written.display());
    eprintln!(
        "\ndemo finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A job of `sql/jobs/` compiled in: `files` holds its TOML first, then
/// every file it names.
fn compiled_job(files: &'static [(&'static str, &'static str)]) -> Result<crate::jobs::Job> {
    let read = |path: &std::path::Path| -> std::io::Result<String> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        files
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, text)| text.to_string())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, name.to_string()))
    };
    let path = std::path::Path::new("sql/jobs").join(files[0].0);
    crate::jobs::Job::parse_with(files[0].1, &path, &read)
}

/// A job run as of `as_of`, quietly, without waiting for a lock.
fn job_options(as_of: chrono::NaiveDate) -> crate::jobs::RunOptions {
    crate::jobs::RunOptions {
        as_of,
        only: Vec::new(),
        wait: std::time::Duration::ZERO,
        lock_ttl: std::time::Duration::from_secs(3600),
        log: crate::jobs::LogFormat::Text,
        progress: false,
    }
}

/// The day after the lake's last order: "today" for the demo's jobs.
async fn last_order_day(engine: &Engine) -> Result<chrono::NaiveDate> {
    let batches = engine
        .sql("SELECT CAST(CAST(max(order_ts) AS DATE) + INTERVAL '1 day' AS VARCHAR) AS day FROM orders")
        .await?
        .collect()
        .await?;
    let rows = crate::report::chart::rows(&batches)?;
    rows.first()
        .map(|r| crate::report::chart::text(r, "day"))
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .ok_or_else(|| crate::Error::Usage("demo: the lake has no orders to snapshot".into()))
}

/// `sql/jobs/daily_segments.toml` as of `last` (the day after the last
/// order) and four weeks before, so `segment_flows` (and the report's
/// migration) has two snapshots.
async fn materialize_two_snapshots(engine: &Engine, last: chrono::NaiveDate) -> Result<()> {
    let job = compiled_job(&DAILY_JOB)?;
    eprintln!(
        "\n== The daily job (sql/jobs/daily_segments.toml) for two dates, so segments can be followed"
    );
    for as_of in [last - chrono::Duration::days(28), last] {
        crate::jobs::run(engine, &job, &job_options(as_of)).await?;
    }
    Ok(())
}
