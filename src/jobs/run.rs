//! Running a job: per target, take the lock, clean what killed runs left,
//! plan the SQL with its parameters bound, check the result's schema, and
//! stream the rows into one Delta commit that also replaces what the mode
//! says (the run's `as_of` partition, the whole table, or nothing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{LogicalPlan, ScalarUDF, col, lit};
use datafusion::parquet::basic::{Compression as ParquetCompression, GzipLevel, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::operations::write::SchemaMode;
use deltalake_core::protocol::SaveMode;
use serde::Serialize;

use super::lock::Lock;
use super::orphans;
use super::spec::{Compression, Job, Mode, Target};
use super::validate::{KeyCheck, compatible};
use crate::delta::{self, At, DeltaSnapshotTable};
use crate::delta::{AS_OF, KEY_PROPERTY, SEGMENTS_PROPERTY};
use crate::engine::{Engine, Planned};
use crate::error::{Error, JobFailure, Result};
use crate::lake::DeltaTableSpec;

/// How a run reports what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Sentences on stderr (and a spinner on a terminal).
    Text,
    /// One JSON object per line on stdout, for log collectors.
    Json,
}

/// Options of one `microseg materialize` run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The snapshot date, bound to `$as_of`.
    pub as_of: NaiveDate,
    /// Only these target tables (all when empty).
    pub only: Vec<String>,
    /// How long to wait for a lock held by a live run.
    pub wait: Duration,
    /// A lock's time to live; renewed every quarter of it while running.
    pub lock_ttl: Duration,
    /// How to report.
    pub log: LogFormat,
    /// Show a spinner with the rows written so far (a terminal is watching).
    pub progress: bool,
}

/// What one target's run did.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// The job.
    pub job: String,
    /// The target table.
    pub target: String,
    /// snapshot, replace or append.
    pub mode: &'static str,
    /// The run's as_of date.
    pub as_of: String,
    /// Rows written.
    pub rows: u64,
    /// The Delta version committed.
    pub version: u64,
    /// Wall time of the target, lock to commit.
    pub duration_ms: u64,
    /// Files of killed or failed runs deleted before writing.
    pub orphans_removed: usize,
    /// Columns the previous version did not have.
    pub new_columns: Vec<String>,
}

#[derive(Serialize)]
struct Event<'a> {
    ts: String,
    level: &'a str,
    event: &'a str,
    job: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    as_of: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    report: Option<&'a TargetReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u8>,
}

fn emit(opts: &RunOptions, event: Event<'_>) {
    match opts.log {
        LogFormat::Json => {
            if let Ok(line) = serde_json::to_string(&event) {
                println!("{line}");
            }
        }
        LogFormat::Text => match (event.event, event.report, &event.error) {
            ("committed", Some(r), _) => eprintln!(
                "{}: {} ({} {}): {} rows committed as version {} in {:.1} s{}{}",
                r.job,
                r.target,
                r.mode,
                r.as_of,
                r.rows,
                r.version,
                r.duration_ms as f64 / 1000.0,
                if r.orphans_removed > 0 {
                    format!(
                        "; removed {} files of an interrupted run",
                        r.orphans_removed
                    )
                } else {
                    String::new()
                },
                if r.new_columns.is_empty() {
                    String::new()
                } else {
                    format!("; new columns: {}", r.new_columns.join(", "))
                },
            ),
            ("failed", _, Some(error)) => eprintln!(
                "{}: {}: failed: {error}",
                event.job,
                event.target.unwrap_or("setup")
            ),
            ("started", _, _) => eprintln!(
                "{}: {} (as_of {}) started",
                event.job,
                event.target.unwrap_or(""),
                event.as_of
            ),
            _ => {}
        },
    }
}

fn event<'a>(opts: &RunOptions, name: &'a str, job: &'a Job) -> Event<'a> {
    Event {
        ts: chrono::Utc::now().to_rfc3339(),
        level: if name == "failed" { "error" } else { "info" },
        event: name,
        job: &job.name,
        target: None,
        as_of: opts.as_of.to_string(),
        report: None,
        error: None,
        exit_code: None,
    }
}

/// The `$as_of` value.
fn as_of_value(date: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    ScalarValue::Date32(Some((date - epoch).num_days() as i32))
}

/// Runs `job` against `engine`'s lake: setup files, then every target (or
/// the ones in `opts.only`) in order; stops at the first failure.
pub async fn run(engine: &Engine, job: &Job, opts: &RunOptions) -> Result<Vec<TargetReport>> {
    for name in &opts.only {
        if !job.targets.iter().any(|t| &t.table == name) {
            let known: Vec<&str> = job.targets.iter().map(|t| t.table.as_str()).collect();
            return Err(Error::job(
                JobFailure::Definition,
                format!(
                    "job {} has no target {name} (targets: {})",
                    job.name,
                    known.join(", ")
                ),
            ));
        }
    }
    // A purpose: every statement of the job runs in a session that sees
    // only the customers who consented to it.
    let consenting;
    let engine = match &job.purpose {
        Some(purpose) => {
            consenting = engine.with_purpose(purpose).map_err(|e| {
                Error::job(
                    JobFailure::Definition,
                    format!("job {}: purpose {purpose:?}: {e}", job.name),
                )
            })?;
            &consenting
        }
        None => engine,
    };
    if let Err(e) = setup(engine, job).await {
        let mut ev = event(opts, "failed", job);
        ev.error = Some(e.to_string());
        ev.exit_code = Some(e.exit_code());
        emit(opts, ev);
        return Err(e);
    }
    let params = [("as_of", as_of_value(opts.as_of))];
    let mut reports = Vec::new();
    for target in &job.targets {
        if !opts.only.is_empty() && !opts.only.contains(&target.table) {
            continue;
        }
        let mut ev = event(opts, "started", job);
        ev.target = Some(&target.table);
        emit(opts, ev);
        match run_target(engine, job, target, opts, &params).await {
            Ok(report) => {
                let mut ev = event(opts, "committed", job);
                ev.target = Some(&target.table);
                ev.report = Some(&report);
                emit(opts, ev);
                reports.push(report);
            }
            Err(e) => {
                let mut ev = event(opts, "failed", job);
                ev.target = Some(&target.table);
                ev.error = Some(e.to_string());
                ev.exit_code = Some(e.exit_code());
                emit(opts, ev);
                return Err(e);
            }
        }
    }
    Ok(reports)
}

/// Runs the job's setup files (e.g. the segment sets its SQL uses).
async fn setup(engine: &Engine, job: &Job) -> Result<()> {
    for (path, text) in &job.setup {
        let fail = |line: u64, e: Error| {
            Error::job(
                JobFailure::Sql,
                format!("job {}: setup {}:{line}: {e}", job.name, path.display()),
            )
        };
        for statement in engine.split_script(text).map_err(|e| fail(1, e))? {
            let time = chrono::Utc::now();
            let started = Instant::now();
            let mut reads = (Vec::new(), Vec::new());
            let ran = async {
                let planned = engine.plan(&statement.sql).await?;
                reads = engine.reads(&planned);
                let batches = engine.execute(planned).await?.collect().await?;
                Ok::<_, Error>(batches.iter().map(|b| b.num_rows() as i64).sum::<i64>())
            }
            .await;
            let rows = ran.as_ref().ok().copied();
            audit(engine, job, &statement.sql, reads, rows, time, started).await;
            ran.map_err(|e| fail(statement.line, e))?;
        }
    }
    Ok(())
}

async fn run_target(
    engine: &Engine,
    job: &Job,
    target: &Target,
    opts: &RunOptions,
    params: &[(&str, ScalarValue)],
) -> Result<TargetReport> {
    let started = Instant::now();
    let location = &engine.lake().location;
    let lock = Lock::acquire(
        location,
        &target.folder,
        &target.table,
        &job.name,
        opts.lock_ttl,
        opts.wait,
    )
    .await?;
    let time = chrono::Utc::now();
    let mut reads = (Vec::new(), Vec::new());
    let result = write_target(
        engine, job, target, opts, params, &lock, started, &mut reads,
    )
    .await;
    let rows = result.as_ref().ok().map(|r| r.rows as i64);
    audit(engine, job, &target.sql, reads, rows, time, started).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

/// Appends a job statement's row to the audit log (`rows` is `None` when it
/// failed). A failure to write it is reported, not fatal: the data is
/// committed either way.
async fn audit(
    engine: &Engine,
    job: &Job,
    statement: &str,
    (tables, personal_columns): (Vec<String>, Vec<String>),
    rows: Option<i64>,
    time: chrono::DateTime<chrono::Utc>,
    started: Instant,
) {
    let row = crate::catalog::audit::AuditRow {
        time,
        user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        role: "job".into(),
        purpose: job.purpose.clone(),
        source: "materialize".into(),
        statement: statement.to_string(),
        tables,
        personal_columns,
        rows,
        outcome: if rows.is_some() { "ok" } else { "error" }.into(),
        duration_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    if let Err(e) = engine.append_audit(row).await {
        eprintln!("warning: audit log: {e}");
    }
}

fn writer_properties(compression: Compression) -> WriterProperties {
    let codec = match compression {
        Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
        Compression::Snappy => ParquetCompression::SNAPPY,
        Compression::Gzip => ParquetCompression::GZIP(GzipLevel::try_new(6).unwrap_or_default()),
        Compression::Lz4 => ParquetCompression::LZ4_RAW,
        Compression::None => ParquetCompression::UNCOMPRESSED,
    };
    WriterProperties::builder().set_compression(codec).build()
}

/// The engine's session (its tables, functions, memory pool and object
/// stores) with delta-rs's planner, which knows the write's own plan nodes.
fn write_state(engine: &Engine) -> datafusion::execution::SessionState {
    datafusion::execution::SessionStateBuilder::new_from_existing(engine.session().state())
        .with_query_planner(deltalake_core::delta_datafusion::planner::DeltaPlanner::new())
        .build()
}

fn validation(target: &Target, message: impl std::fmt::Display) -> Error {
    Error::job(
        JobFailure::Validation,
        format!("target {}: {message}", target.table),
    )
}

/// Checks the columns a target's settings name exist in its result.
fn check_columns(target: &Target, schema: &Schema) -> Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let wanted = std::iter::once(("key", &target.key))
        .chain(target.segments.iter().map(|s| ("segments", s)))
        .chain(target.partition_by.iter().map(|p| ("partition_by", p)));
    for (setting, column) in wanted {
        if !names.contains(&column.as_str()) {
            return Err(validation(
                target,
                format!(
                    "{setting} names column {column}, which the SQL does not return (columns: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    if target.mode == Mode::Snapshot && names.contains(&AS_OF) {
        return Err(validation(
            target,
            "the SQL returns a column as_of; mode snapshot adds it (the run's --as-of), so rename it",
        ));
    }
    Ok(())
}

// The run's context, one argument each; `reads` reports the plan's reads
// even when the write fails, for the audit row.
#[allow(clippy::too_many_arguments)]
async fn write_target(
    engine: &Engine,
    job: &Job,
    target: &Target,
    opts: &RunOptions,
    params: &[(&str, ScalarValue)],
    lock: &Lock,
    started: Instant,
    reads: &mut (Vec<String>, Vec<String>),
) -> Result<TargetReport> {
    let location = &engine.lake().location;
    let orphans_removed = orphans::clean_orphans(location, &target.folder).await?;

    let sql_error = |e: Error| {
        Error::job(
            JobFailure::Sql,
            format!("target {} ({}): {e}", target.table, target.sql_source),
        )
    };
    let planned = engine
        .plan_with_params(&target.sql, params)
        .await
        .map_err(sql_error)?;
    *reads = engine.reads(&planned);
    let plan = match planned {
        Planned::DataFusion(plan)
            if !matches!(
                plan,
                LogicalPlan::Ddl(_)
                    | LogicalPlan::Dml(_)
                    | LogicalPlan::Copy(_)
                    | LogicalPlan::Statement(_)
                    | LogicalPlan::Explain(_)
            ) =>
        {
            plan
        }
        _ => {
            return Err(Error::job(
                JobFailure::Definition,
                format!(
                    "target {} ({}): the SQL must be one query (SELECT …) producing the rows",
                    target.table, target.sql_source
                ),
            ));
        }
    };
    let mut df = engine
        .execute(Planned::DataFusion(plan))
        .await
        .map_err(sql_error)?;
    check_columns(target, df.schema().as_arrow())?;
    let as_of = as_of_value(opts.as_of);
    if target.mode == Mode::Snapshot {
        df = df.with_column(AS_OF, lit(as_of.clone()))?;
    }
    let check = KeyCheck::new(&target.key);
    let state = Arc::clone(&check.state);
    df = df.with_column(
        &target.key,
        ScalarUDF::new_from_impl(check).call(vec![col(target.key.as_str())]),
    )?;

    let mut partitions: Vec<String> = Vec::new();
    if target.mode == Mode::Snapshot {
        partitions.push(AS_OF.to_string());
    }
    partitions.extend(target.partition_by.iter().cloned());

    let spec = DeltaTableSpec {
        name: target.table.clone(),
        folder: target.folder.clone(),
    };
    let mut new_columns = Vec::new();
    let table = if let Some(latest) = delta::latest_version(location, &target.folder).await? {
        let table = delta::open(location, &target.folder, &At::Version(latest)).await?;
        let previous = DeltaSnapshotTable::try_new(location, &spec, &table).await?;
        if let Some(key) = previous.property(KEY_PROPERTY)
            && key != target.key
        {
            return Err(validation(
                target,
                format!(
                    "the table's key column is {key}, the job says {}",
                    target.key
                ),
            ));
        }
        if previous.partition_columns != partitions {
            return Err(validation(
                target,
                format!(
                    "the table is partitioned by [{}], the job asks for [{}]",
                    previous.partition_columns.join(", "),
                    partitions.join(", ")
                ),
            ));
        }
        use datafusion::catalog::TableProvider;
        new_columns = compatible(
            &target.table,
            previous.version,
            previous.schema().as_ref(),
            df.schema().as_arrow(),
        )
        .map_err(|m| validation(target, m))?;
        table
    } else {
        delta::uninitialized(location, &target.folder)?
    };

    let spinner = opts.progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("{}: writing", target.table));
        bar.enable_steady_tick(Duration::from_millis(120));
        let ticker_state = Arc::clone(&state);
        let ticker_bar = bar.clone();
        let name = target.table.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let rows = ticker_state.lock().map(|s| s.rows).unwrap_or(0);
                ticker_bar.set_message(format!("{name}: {rows} rows written"));
            }
        });
        (bar, ticker)
    });

    let mut metadata = vec![
        ("microseg.job".to_string(), serde_json::json!(job.name)),
        (
            "microseg.target".to_string(),
            serde_json::json!(target.table),
        ),
        (
            "microseg.mode".to_string(),
            serde_json::json!(target.mode.name()),
        ),
    ];
    if target.mode == Mode::Snapshot {
        metadata.push((
            "microseg.as_of".to_string(),
            serde_json::json!(opts.as_of.to_string()),
        ));
    }
    let mut write = table
        .write(Vec::<RecordBatch>::new())
        .with_input_plan(df.logical_plan().clone())
        .with_session_state(Arc::new(write_state(engine)))
        .with_save_mode(match target.mode {
            Mode::Append => SaveMode::Append,
            Mode::Snapshot | Mode::Replace => SaveMode::Overwrite,
        })
        .with_partition_columns(partitions)
        .with_writer_properties(writer_properties(target.compression))
        .with_table_name(target.table.clone())
        .with_commit_properties(CommitProperties::default().with_metadata(metadata));
    if target.mode == Mode::Snapshot {
        write = write.with_replace_where(col(AS_OF).eq(lit(as_of)));
    }
    if !new_columns.is_empty() {
        write = write.with_schema_mode(SchemaMode::Merge);
    }
    let written = write.await;
    if let Some((bar, ticker)) = spinner {
        ticker.abort();
        bar.finish_and_clear();
    }
    let (rows, violation) = {
        let s = state.lock().unwrap_or_else(|e| e.into_inner());
        (s.rows, s.violation.clone())
    };
    let table = match (written, violation) {
        (Ok(table), _) => table,
        (Err(_), Some(violation)) => return Err(validation(target, violation)),
        (Err(e), None) => {
            return Err(Error::job(
                JobFailure::Sql,
                format!("target {} ({}): {e}", target.table, target.sql_source),
            ));
        }
    };
    if !lock.still_held().await? {
        log::warn!(
            "{}: the lock was taken over while this run wrote; another run may have committed too",
            target.table
        );
    }
    let version = table.version().unwrap_or_default();
    let properties = std::collections::HashMap::from([
        (KEY_PROPERTY.to_string(), target.key.clone()),
        (SEGMENTS_PROPERTY.to_string(), target.segments.join(",")),
        ("microseg.job".to_string(), job.name.clone()),
    ]);
    delta::write_properties(location, &target.folder, &properties).await?;
    // The session sees the new version at once (other processes on their next statement).
    delta::committed(engine.session(), location, &spec, &table).await?;
    Ok(TargetReport {
        job: job.name.clone(),
        target: target.table.clone(),
        mode: target.mode.name(),
        as_of: opts.as_of.to_string(),
        rows,
        version,
        duration_ms: started.elapsed().as_millis() as u64,
        orphans_removed,
        new_columns,
    })
}
