//! `microseg materialize`: the shipped daily job over the generated lake,
//! run as a scheduler runs it (the binary, exit codes, JSON logs), with
//! its guarantees checked: versions and time travel, membership history
//! against plain SQL, idempotency, validation, the lock, kill -9, and an
//! independent reader (delta-rs's Python bindings).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::display::array_value_to_string;
use microseg::{Engine, EngineOptions};

use crate::fixtures::small_lake_copy;

/// The two snapshot dates: inside the generated lake's two years of orders.
const D1: &str = "2025-09-30";
const D2: &str = "2025-10-31";
const TABLE: &str = "segments.customer_segments";

fn job_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/jobs/daily_segments.toml")
}

fn materialize(lake: &Path, job: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_microseg"))
        .arg("materialize")
        .arg("--lake")
        .arg(lake)
        .arg(job)
        .args(["--log-format", "json"])
        .args(extra)
        .env_remove("MICROSEG_LAKE")
        .output()
        .expect("run microseg materialize")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON log line of the run's commit.
fn committed(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "materialize failed ({:?}): {}{}",
        o.status.code(),
        stderr(o),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "committed")
        .expect("a committed event in the JSON log")
}

async fn engine(lake: &Path) -> Engine {
    Engine::open(&lake.to_string_lossy(), EngineOptions::default())
        .await
        .expect("open lake")
}

async fn batches(engine: &Engine, sql: &str) -> Vec<RecordBatch> {
    engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("planning {sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("running {sql}: {e}"))
}

async fn scalar_i64(engine: &Engine, sql: &str) -> i64 {
    let b = batches(engine, sql).await;
    let array = datafusion::arrow::compute::cast(b[0].column(0), &DataType::Int64).unwrap();
    array
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0)
}

/// Every row as one text line (columns sorted by name, `|`-joined, NULL as
/// `\N`, floats with 6 decimals), sorted: the format of delta_reader.py.
fn canonical(batches: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let mut order: Vec<usize> = (0..schema.fields().len()).collect();
        order.sort_by_key(|&i| schema.field(i).name().clone());
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = order
                .iter()
                .map(|&i| {
                    let column = batch.column(i);
                    if column.is_null(row) {
                        "\\N".to_string()
                    } else if column.data_type() == &DataType::Float64 {
                        format!("{:.6}", column.as_primitive::<Float64Type>().value(row))
                    } else {
                        array_value_to_string(column, row).unwrap()
                    }
                })
                .collect();
            lines.push(cells.join("|"));
        }
    }
    lines.sort();
    lines
}

/// Rows two queries disagree on, both ways (0 when they return the same bag).
async fn differences(engine: &Engine, a: &str, b: &str) -> i64 {
    scalar_i64(
        engine,
        &format!(
            "SELECT (SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))) + (SELECT count(*) FROM (({b}) EXCEPT ALL ({a})))"
        ),
    )
    .await
}

/// The job's rows for one date computed directly (no Delta, no job runner):
/// the same SQL file planned with the date as a literal.
fn reference_sql(date: &str) -> String {
    let sql = std::fs::read_to_string(job_file().with_file_name("daily_segments.sql")).unwrap();
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.replace("$as_of", &format!("DATE '{date}'"))
}

async fn run_setup(engine: &Engine) {
    for file in [
        "sql/segments/rfm_standard.sql",
        "sql/segments/lifecycle.sql",
        "sql/jobs/daily_segments_setup.sql",
    ] {
        let text =
            std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        for statement in engine.split_script(&text).unwrap() {
            engine
                .sql(&statement.sql)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_job_keeps_snapshots_versions_and_membership_history() {
    let lake = small_lake_copy();
    let first = committed(&materialize(lake.path(), &job_file(), &["--as-of", D1]));
    assert_eq!(first["version"], 0, "{first}");
    assert_eq!(first["target"], TABLE);
    let second = committed(&materialize(lake.path(), &job_file(), &["--as-of", D2]));
    assert_eq!(second["version"], 1, "{second}");

    let e = engine(lake.path()).await;
    run_setup(&e).await;
    // Each snapshot holds exactly the job's rows for its date.
    for (date, log) in [(D1, &first), (D2, &second)] {
        let rows = scalar_i64(
            &e,
            &format!("SELECT count(*) FROM {TABLE} WHERE as_of = DATE '{date}'"),
        )
        .await;
        assert_eq!(rows, log["rows"].as_i64().unwrap(), "{date}: rows vs log");
        assert!(rows > 100, "{date}: {rows} customers");
        let stored = format!("SELECT * EXCLUDE (as_of) FROM {TABLE} WHERE as_of = DATE '{date}'");
        assert_eq!(
            differences(&e, &stored, &reference_sql(date)).await,
            0,
            "{date}"
        );
    }
    // Time travel: version 0 has only the first snapshot.
    let v0 = scalar_i64(
        &e,
        &format!("SELECT count(DISTINCT as_of) FROM table_at('{TABLE}', 0)"),
    )
    .await;
    assert_eq!(v0, 1);
    let v1 = scalar_i64(
        &e,
        &format!("SELECT count(DISTINCT as_of) FROM table_at('{TABLE}', 1)"),
    )
    .await;
    assert_eq!(v1, 2);

    // Bad time travel and history calls name what is wrong.
    let errors = [
        (
            format!("SELECT * FROM table_at('{TABLE}', 99)"),
            "version 99",
        ),
        (
            "SELECT * FROM table_at('segments.nope', 0)".to_string(),
            "segments.nope is not a Delta table",
        ),
        (
            format!("SELECT * FROM table_at('{TABLE}', 'last week')"),
            "neither a version number nor a timestamp",
        ),
        (
            format!("SELECT * FROM table_at('{TABLE}')"),
            "expected 2 arguments",
        ),
        (
            format!("SELECT * FROM table_at('{TABLE}', '2001-01-01T00:00:00Z')"),
            "has no version as old as 2001-01-01",
        ),
        (
            "SELECT * FROM segment_changes('orders', '2025-01-01', '2025-02-01')".to_string(),
            "orders is not a Delta table written by",
        ),
        (
            format!("SELECT * FROM segment_changes('{TABLE}', '{D1}', '{D2}', 'monetary')"),
            "\"monetary\" is not a segment column",
        ),
        (
            format!("SELECT * FROM segment_flows('{TABLE}', 'soon', '{D2}')"),
            "argument 2 (from_as_of) must be a date",
        ),
        (
            format!("SELECT * FROM segment_flows('{TABLE}', '{D1}')"),
            "expected",
        ),
    ];
    for (sql, needle) in errors {
        let message = match e.sql(&sql).await {
            Err(err) => err.to_string(),
            Ok(df) => match df.collect().await {
                Err(err) => err.to_string(),
                Ok(_) => panic!("{sql} should fail"),
            },
        };
        assert!(
            message.contains(needle),
            "{sql}: expected {needle:?} in {message}"
        );
    }

    // segment_changes against a plain full outer join of the two snapshots.
    let plain_changes = |column: &str| {
        format!(
            "SELECT coalesce(o.customer_id, n.customer_id) AS customer_id, '{column}' AS segment_column,
                    o.{column} AS old_value, n.{column} AS new_value,
                    CASE WHEN o.{column} IS NULL THEN 'entered' WHEN n.{column} IS NULL THEN 'exited' ELSE 'moved' END AS change
             FROM (SELECT * FROM {TABLE} WHERE as_of = DATE '{D1}') o
             FULL JOIN (SELECT * FROM {TABLE} WHERE as_of = DATE '{D2}') n ON o.customer_id = n.customer_id
             WHERE o.{column} IS DISTINCT FROM n.{column}"
        )
    };
    let plain = format!(
        "{} UNION ALL {}",
        plain_changes("rfm_segment"),
        plain_changes("lifecycle")
    );
    let ours = format!(
        "SELECT customer_id, segment_column, old_value, new_value, change FROM segment_changes('{TABLE}', DATE '{D1}', DATE '{D2}')"
    );
    assert_eq!(differences(&e, &ours, &plain).await, 0);
    let changed = scalar_i64(&e, &format!("SELECT count(*) FROM ({ours})")).await;
    assert!(changed > 10, "a month changes some segments: {changed}");
    let entered = scalar_i64(
        &e,
        &format!("SELECT count(*) FROM ({ours}) WHERE change = 'entered'"),
    )
    .await;
    assert!(entered > 0, "new buyers enter in a month");

    // segment_flows: the migration matrix, stayers included.
    let plain_flows = format!(
        "SELECT 'lifecycle' AS segment_column, o.lifecycle AS from_value, n.lifecycle AS to_value, count(*) AS customers
         FROM (SELECT * FROM {TABLE} WHERE as_of = DATE '{D1}') o
         FULL JOIN (SELECT * FROM {TABLE} WHERE as_of = DATE '{D2}') n ON o.customer_id = n.customer_id
         GROUP BY 1, 2, 3"
    );
    let flows = format!(
        "SELECT segment_column, from_value, to_value, customers FROM segment_flows('{TABLE}', '{D1}', '{D2}', 'lifecycle')"
    );
    assert_eq!(differences(&e, &flows, &plain_flows).await, 0);

    // Idempotent: re-running D1 replaces that snapshot only.
    let before_d2 = format!("SELECT * FROM table_at('{TABLE}', 1) WHERE as_of = DATE '{D2}'");
    let third = committed(&materialize(lake.path(), &job_file(), &["--as-of", D1]));
    assert_eq!(third["version"], 2);
    assert_eq!(third["rows"], first["rows"]);
    let e = engine(lake.path()).await;
    run_setup(&e).await;
    let dupes = scalar_i64(
        &e,
        &format!(
            "SELECT count(*) FROM (SELECT as_of, customer_id FROM {TABLE} GROUP BY 1, 2 HAVING count(*) > 1)"
        ),
    )
    .await;
    assert_eq!(dupes, 0, "no duplicate rows after a re-run");
    let d2_now = format!("SELECT * FROM {TABLE} WHERE as_of = DATE '{D2}'");
    assert_eq!(
        differences(&e, &d2_now, &before_d2).await,
        0,
        "D2 untouched"
    );
    let d1_now = format!("SELECT * EXCLUDE (as_of) FROM {TABLE} WHERE as_of = DATE '{D1}'");
    assert_eq!(differences(&e, &d1_now, &reference_sql(D1)).await, 0);

    // An independent reader sees the same rows: delta-rs's Python bindings.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/delta_reader.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let folder = lake.path().join("segments/customer_segments");
    let out = Command::new(python)
        .arg(&script)
        .arg(&folder)
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with deltalake)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("version=2 "), "{header}");
    let python_rows: Vec<String> = lines.map(str::to_string).collect();
    let ours = canonical(&batches(&e, &format!("SELECT * FROM {TABLE}")).await);
    assert_eq!(python_rows.len(), ours.len());
    for (p, o) in python_rows.iter().zip(&ours) {
        assert_eq!(p, o, "delta-rs (Python) vs microseg");
    }
}

/// A one-target job with inline SQL, written next to nothing else.
fn simple_job(dir: &Path, file: &str, sql: &str, extra: &str) -> PathBuf {
    let path = dir.join(file);
    let text = format!(
        "name = \"simple\"\n\n[[targets]]\ntable = \"segments.simple\"\nsql = \"\"\"{sql}\"\"\"\nkey = \"customer_id\"\nsegments = [\"channel\"]\nmode = \"replace\"\n{extra}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn commits(lake: &Path, folder: &str) -> usize {
    std::fs::read_dir(lake.join(folder).join("_delta_log"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

#[track_caller]
fn fails_with(o: &Output, code: i32, needles: &[&str]) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code; stderr: {}",
        stderr(o)
    );
    let log = String::from_utf8_lossy(&o.stdout);
    let failed = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "failed");
    let message = format!(
        "{}{}",
        stderr(o),
        failed.map(|f| f.to_string()).unwrap_or_default()
    );
    for needle in needles {
        assert!(
            message.contains(needle),
            "expected {needle:?} in: {message}"
        );
    }
}

#[test]
fn bad_rows_bad_sql_and_bad_jobs_fail_with_their_exit_code_and_commit_nothing() {
    let lake = small_lake_copy();
    let jobs = tempfile::tempdir().unwrap();
    let base = "SELECT customer_id, acquisition_channel AS channel FROM customers";
    let ok = simple_job(jobs.path(), "ok.toml", base, "");
    committed(&materialize(lake.path(), &ok, &[]));
    let folder = "segments/simple";
    assert_eq!(commits(lake.path(), folder), 1);

    let cases: Vec<(&str, String, i32, Vec<&str>)> = vec![
        (
            "type_change",
            "SELECT CAST(customer_id AS VARCHAR) AS customer_id, acquisition_channel AS channel FROM customers".into(),
            4,
            vec!["column customer_id", "changes type", "Int64"],
        ),
        (
            "duplicate",
            format!("{base} UNION ALL SELECT customer_id, 'again' FROM customers WHERE customer_id = 3"),
            4,
            vec!["key column customer_id is not unique", "3"],
        ),
        (
            "null_key",
            "SELECT CASE WHEN customer_id % 7 = 0 THEN NULL ELSE customer_id END AS customer_id, acquisition_channel AS channel FROM customers".into(),
            4,
            vec!["key column customer_id is NULL"],
        ),
        (
            "dropped_column",
            "SELECT customer_id, acquisition_channel AS segment FROM customers".into(),
            4,
            vec!["channel"],
        ),
        (
            "unknown_column",
            "SELECT customer_id, nope AS channel FROM customers".into(),
            3,
            vec!["nope"],
        ),
        (
            "unknown_parameter",
            "SELECT customer_id, $region AS channel FROM customers".into(),
            3,
            vec!["$region", "$as_of"],
        ),
        (
            "not_a_query",
            "CREATE VIEW v AS SELECT 1".into(),
            2,
            vec!["must be one query"],
        ),
    ];
    for (name, sql, code, needles) in cases {
        let job = simple_job(jobs.path(), &format!("{name}.toml"), &sql, "");
        let o = materialize(lake.path(), &job, &[]);
        fails_with(&o, code, &needles);
        assert_eq!(commits(lake.path(), folder), 1, "{name} committed nothing");
    }
    // The key must be a column of the result.
    let job = jobs.path().join("no_key.toml");
    std::fs::write(
        &job,
        format!("[[targets]]\ntable = \"segments.simple\"\nsql = \"{base}\"\nkey = \"id\"\nmode = \"replace\"\n"),
    )
    .unwrap();
    fails_with(
        &materialize(lake.path(), &job, &[]),
        4,
        &["key names column id", "customer_id"],
    );
    // A job file with a typo fails before anything runs.
    let job = jobs.path().join("typo.toml");
    std::fs::write(
        &job,
        format!("[[targets]]\ntable = \"segments.simple\"\nsql = \"{base}\"\nkey = \"customer_id\"\nmode = \"replace\"\ncompresion = \"zstd\"\n"),
    )
    .unwrap();
    fails_with(&materialize(lake.path(), &job, &[]), 2, &["compresion"]);
    fails_with(
        &materialize(lake.path(), &ok, &["--as-of", "31/10/2025"]),
        2,
        &["--as-of"],
    );

    // Adding a column is allowed, and the table still reads.
    let wider = simple_job(
        jobs.path(),
        "wider.toml",
        "SELECT customer_id, acquisition_channel AS channel, customer_id * 2 AS doubled FROM customers",
        "",
    );
    let log = committed(&materialize(lake.path(), &wider, &[]));
    assert_eq!(log["new_columns"], serde_json::json!(["doubled"]));
    assert_eq!(log["version"], 1);
    assert_eq!(commits(lake.path(), folder), 2);
}

#[test]
fn a_held_lock_fails_or_waits_and_a_dead_holder_is_taken_over() {
    let lake = small_lake_copy();
    let jobs = tempfile::tempdir().unwrap();
    let job = simple_job(
        jobs.path(),
        "ok.toml",
        "SELECT customer_id, acquisition_channel AS channel FROM customers",
        "",
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let location = microseg::lake::LakeLocation::parse(&lake.path().to_string_lossy()).unwrap();
    // A live holder (this test process): the run fails at once with exit code 5.
    let lock = runtime
        .block_on(microseg::jobs::lock::Lock::acquire(
            &location,
            "segments/simple",
            "segments.simple",
            "test",
            std::time::Duration::from_secs(60),
            std::time::Duration::ZERO,
        ))
        .unwrap();
    fails_with(
        &materialize(lake.path(), &job, &[]),
        5,
        &["segments.simple is being written by job test", "--wait"],
    );
    assert_eq!(commits(lake.path(), "segments/simple"), 0);
    // With --wait, the run waits for the holder to let go.
    let waiting = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(["materialize", "--lake"])
        .arg(lake.path())
        .arg(&job)
        .args(["--log-format", "json", "--wait", "60s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    runtime.block_on(lock.release()).unwrap();
    let o = waiting.wait_with_output().unwrap();
    assert_eq!(committed(&o)["version"], 0);

    // A lock left by a process that no longer exists is stale at once.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let now = chrono::Utc::now();
    let info = microseg::jobs::lock::LockInfo {
        owner: "gone".into(),
        job: "killed".into(),
        host: microseg::jobs::lock::host_name(),
        pid: dead_pid,
        acquired_at: now,
        expires_at: now + chrono::Duration::hours(1),
    };
    let lock_file = lake.path().join("_microseg/locks/segments/simple.lock");
    std::fs::create_dir_all(lock_file.parent().unwrap()).unwrap();
    std::fs::write(&lock_file, serde_json::to_vec(&info).unwrap()).unwrap();
    assert_eq!(
        committed(&materialize(lake.path(), &job, &[]))["version"],
        1
    );
    assert!(
        !lock_file.exists(),
        "the run releases the lock it took over"
    );

    // Two runs started together: one commits, the other commits after it
    // or fails with exit code 5; never an interleaving.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_microseg"))
            .args(["materialize", "--lake"])
            .arg(lake.path())
            .arg(&job)
            .args(["--log-format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1, "one run commits");
    for o in &outs {
        assert!(
            o.status.success() || o.status.code() == Some(5),
            "exit {:?}: {}",
            o.status.code(),
            stderr(o)
        );
    }
    assert_eq!(commits(lake.path(), "segments/simple"), 2 + ok);
}

/// Files under a table folder, outside its log.
fn data_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| !p.strip_prefix(dir).unwrap().starts_with("_delta_log"))
        .collect()
}

/// Every file under `root`, at any depth.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_random_points_never_leaves_a_partial_version() {
    let lake = small_lake_copy();
    // How long a clean run takes sets the range of kill points.
    let started = std::time::Instant::now();
    committed(&materialize(lake.path(), &job_file(), &["--as-of", D1]));
    let clean_ms = started.elapsed().as_millis() as u64;

    // Deterministic kill points spread over the whole run (process start,
    // lake open, setup, writing, commit).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut kills = 0;
    let mut finished = 0;
    let mut attempts = 0;
    // Every other kill point is drawn from the second half of a clean run,
    // where the files are written and committed; runs that finish first
    // commit a version, which is checked like the rest. The loop goes on
    // until 20 runs were actually killed.
    let window = clean_ms.max(2);
    while kills < 20 && attempts < 120 {
        let i = attempts;
        attempts += 1;
        let date = if i % 2 == 0 { D2 } else { D1 };
        let mut child = Command::new(env!("CARGO_BIN_EXE_microseg"))
            .args(["materialize", "--lake"])
            .arg(lake.path())
            .arg(job_file())
            .args(["--log-format", "json", "--as-of", date])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = if attempts % 2 == 0 {
            next() % window
        } else {
            window / 2 + next() % (window / 2)
        };
        std::thread::sleep(std::time::Duration::from_millis(delay));
        match child.try_wait().unwrap() {
            Some(_) => finished += 1,
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(kills >= 20, "{kills} kills, {finished} runs finished first");

    // The next run cleans up after them and commits.
    let last = committed(&materialize(lake.path(), &job_file(), &["--as-of", D2]));
    let latest = last["version"].as_u64().unwrap();
    let folder = lake.path().join("segments/customer_segments");
    let e = engine(lake.path()).await;
    run_setup(&e).await;
    // Every version readable is complete: each snapshot in it equals a clean run's rows.
    for version in 0..=latest {
        let dates = batches(
            &e,
            &format!("SELECT DISTINCT CAST(as_of AS VARCHAR) FROM table_at('{TABLE}', {version})"),
        )
        .await;
        for batch in &dates {
            for row in 0..batch.num_rows() {
                let date = array_value_to_string(batch.column(0), row).unwrap();
                let stored = format!(
                    "SELECT * EXCLUDE (as_of) FROM table_at('{TABLE}', {version}) WHERE as_of = DATE '{date}'"
                );
                assert_eq!(
                    differences(&e, &stored, &reference_sql(&date)).await,
                    0,
                    "version {version}, snapshot {date}"
                );
            }
        }
    }
    // No file is left that no commit names.
    let named = scalar_i64(
        &e,
        &format!("SELECT count(*) FROM (SELECT DISTINCT as_of FROM {TABLE})"),
    )
    .await;
    assert_eq!(named, 2);
    let log = std::fs::read_dir(folder.join("_delta_log")).unwrap();
    let mut referenced = std::collections::HashSet::new();
    for entry in log.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "unfinished commit {name} left");
        if name.ends_with(".json") {
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(p) = v["add"]["path"].as_str() {
                    referenced.insert(p.to_string());
                }
            }
        }
    }
    for file in data_files(&folder) {
        let relative = file
            .strip_prefix(&folder)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            referenced.contains(&relative),
            "orphan {relative} left after the clean run"
        );
    }
}

#[test]
fn vacuum_deletes_files_no_commit_names_and_keeps_the_data() {
    let lake = small_lake_copy();
    let jobs = tempfile::tempdir().unwrap();
    let job = simple_job(
        jobs.path(),
        "ok.toml",
        "SELECT customer_id, acquisition_channel AS channel FROM customers",
        "",
    );
    committed(&materialize(lake.path(), &job, &[]));
    let folder = lake.path().join("segments/simple");
    let before = data_files(&folder).len();
    // What a killed run leaves: a data file no commit names.
    let orphan = folder.join("part-00000-killed-run.zstd.parquet");
    std::fs::copy(&data_files(&folder)[0], &orphan).unwrap();
    let vacuum = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_microseg"))
            .args(["vacuum", "--lake"])
            .arg(lake.path())
            .args(args)
            .env_remove("MICROSEG_LAKE")
            .output()
            .unwrap()
    };
    let o = vacuum(&["segments.simple"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("segments.simple: removed 1 files of interrupted runs"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!orphan.exists());
    assert_eq!(data_files(&folder).len(), before);
    let o = vacuum(&["segments.nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "segments.nope is not a Delta table of the lake (Delta tables: segments.simple)"
        ),
        "{}",
        stderr(&o)
    );
    // The table still reads whole.
    let out = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(["sql", "--lake"])
        .arg(lake.path())
        .args([
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n FROM segments.simple",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("n\n{}", crate::fixtures::SMALL_LAKE_CUSTOMERS)
    );
}

/// Every file under `root`, as (path relative to root with `/`, bytes).
pub(crate) fn all_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(root)
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&path).unwrap();
            (relative, bytes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialize_on_s3_commits_and_locks_through_the_object_store() {
    let moto = crate::support::moto::Moto::start();
    moto.create_bucket("acme");
    let files: Vec<(String, Vec<u8>)> = all_files(crate::fixtures::small_lake())
        .into_iter()
        .map(|(p, b)| (format!("lake/{p}"), b))
        .collect();
    crate::lake::upload(&moto, "acme", files).await;
    let env = moto.env();
    let jobs = tempfile::tempdir().unwrap();
    let job = simple_job(
        jobs.path(),
        "s3.toml",
        "SELECT customer_id, acquisition_channel AS channel FROM customers",
        "",
    );
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_microseg"))
            .args(["materialize", "--lake", "s3://acme/lake"])
            .arg(&job)
            .args(["--log-format", "json"])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    assert_eq!(committed(&run(&[]))["version"], 0);
    assert_eq!(committed(&run(&[]))["version"], 1);

    let location =
        microseg::lake::LakeLocation::parse_with_options("s3://acme/lake", moto.options()).unwrap();
    let lock = microseg::jobs::lock::Lock::acquire(
        &location,
        "segments/simple",
        "segments.simple",
        "test",
        std::time::Duration::from_secs(60),
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    fails_with(
        &run(&[]),
        5,
        &["segments.simple is being written by job test"],
    );
    lock.release().await.unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .args(["sql", "--lake", "s3://acme/lake", "--format", "csv", "-c"])
        .arg("SELECT count(*) AS n, count(DISTINCT customer_id) AS k FROM table_at('segments.simple', 0)")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let n = crate::fixtures::SMALL_LAKE_CUSTOMERS;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("n,k\n{n},{n}")
    );
}
