//! The same SQL on a Ballista cluster: one scheduler and two executors on
//! loopback, first inside this process (through `microseg::cluster`), then
//! as `microseg cluster …` processes driven by `microseg sql --cluster`.
//! The reference is the local engine over the same lake: DataFusion's own
//! single-process execution, which the other test modules check against
//! DuckDB, scikit-learn and closed forms.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::ScalarValue;
use microseg::cluster::{
    ExecutorOptions, RunningExecutor, RunningScheduler, SchedulerOptions, start_executor,
    start_scheduler,
};
use microseg::{Engine, EngineOptions};

use crate::fixtures::{small_lake_copy, small_lake_str};
use crate::support::{parquet_bytes, run};

/// A port free at the time of asking (executors need fixed ports).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) async fn start_cluster() -> (RunningScheduler, Vec<RunningExecutor>) {
    let scheduler = start_scheduler(&SchedulerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        executor_timeout: 30,
    })
    .await
    .expect("start the scheduler");
    let mut executors = Vec::new();
    for _ in 0..2 {
        let options = ExecutorOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], free_port())),
            grpc_port: Some(free_port()),
            heartbeat: 5,
            concurrent_tasks: Some(2),
            ..ExecutorOptions::new(scheduler.addr().to_string())
        };
        executors.push(start_executor(&options).await.expect("start an executor"));
    }
    (scheduler, executors)
}

async fn open_partitioned(location: &str) -> Engine {
    let options = EngineOptions {
        target_partitions: Some(4),
        ..EngineOptions::default()
    };
    Engine::open(location, options).await.unwrap()
}

/// Rows as values, sorted so that order SQL does not fix is ignored.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<ScalarValue>> {
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, row).unwrap())
                    .collect::<Vec<_>>(),
            );
        }
    }
    // Floats sort by a rounded key so last-bit differences keep the order.
    let key = |r: &Vec<ScalarValue>| -> Vec<String> {
        r.iter()
            .map(|v| match v {
                ScalarValue::Float64(Some(x)) => format!("{x:.6e}"),
                other => other.to_string(),
            })
            .collect()
    };
    out.sort_by_key(key);
    out
}

fn same_value(a: &ScalarValue, b: &ScalarValue) -> bool {
    match (a, b) {
        (ScalarValue::Float64(Some(x)), ScalarValue::Float64(Some(y))) => {
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        (ScalarValue::List(x), ScalarValue::List(y)) if !x.is_null(0) && !y.is_null(0) => {
            let (x, y) = (x.value(0), y.value(0));
            let at = |a: &dyn Array, i: usize| ScalarValue::try_from_array(a, i).unwrap();
            x.len() == y.len()
                && (0..x.len()).all(|i| same_value(&at(x.as_ref(), i), &at(y.as_ref(), i)))
        }
        _ => a == b,
    }
}

#[track_caller]
fn assert_same(sql: &str, local: &[RecordBatch], remote: &[RecordBatch]) {
    let (l, r) = (rows(local), rows(remote));
    assert!(!l.is_empty(), "{sql}: the reference has no rows");
    assert_eq!(l.len(), r.len(), "{sql}: row counts differ");
    for (a, b) in l.iter().zip(&r) {
        assert!(
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y)),
            "{sql}:\nlocal   {a:?}\ncluster {b:?}"
        );
    }
}

const PER_CUSTOMER: &str = "(SELECT customer_id, CAST(sum(amount) AS DOUBLE) AS total, CAST(count(*) AS DOUBLE) AS n FROM orders GROUP BY customer_id)";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_give_the_local_answers_on_a_cluster() {
    let lake = small_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    let local = open_partitioned(&location).await;
    run(
        &local,
        "CREATE SEGMENT SET spend ('big' WHEN total >= 1000, 'mid' WHEN total >= 200, ELSE 'small')",
    )
    .await;
    run(
        &local,
        &format!(
            "CREATE MODEL m OPTIONS (model_type 'kmeans', num_clusters 3, seed 1) AS SELECT total, n FROM {PER_CUSTOMER}"
        ),
    )
    .await;
    // Classifiers: their functions ship the fitted coefficients and trees.
    for model_type in ["logistic_reg", "boosted_tree_classifier"] {
        run(
            &local,
            &format!(
                "CREATE MODEL {model_type} OPTIONS (model_type '{model_type}', input_label_cols ['regular'], max_iterations 20) AS SELECT total, n >= 4 AS regular FROM {PER_CUSTOMER}"
            ),
        )
        .await;
    }
    // Uplift models: linear parts (the X-learner's four) and trees.
    for (model, options) in [
        ("uplift_lin", "learner 'x', base_model 'logistic_reg'"),
        (
            "uplift_trees",
            "base_model 'boosted_tree_classifier', max_iterations 10",
        ),
    ] {
        run(
            &local,
            &format!(
                "CREATE MODEL {model} OPTIONS (model_type 'uplift', {options}, treatment_col 'variant', treatment_value 'treatment', input_label_cols ['converted']) AS SELECT p.total, s.variant, s.converted FROM campaign_sends s JOIN {PER_CUSTOMER} p USING (customer_id)"
            ),
        )
        .await;
    }

    let (scheduler, _executors) = start_cluster().await;
    let address = format!("df://{}", scheduler.addr());
    let remote = microseg::cluster::connect(open_partitioned(&location).await, &address)
        .await
        .expect("connect to the cluster");

    let queries = [
        // Aggregate with GROUP BY: a hash repartition between two stages.
        "SELECT channel, count(*) AS n, sum(amount) AS revenue, avg(CAST(amount AS DOUBLE)) AS aov FROM orders GROUP BY channel".to_string(),
        // A join of two lake tables.
        "SELECT c.city, count(DISTINCT o.customer_id) AS buyers, sum(o.amount) AS revenue FROM orders o JOIN customers c ON o.customer_id = c.customer_id GROUP BY c.city".to_string(),
        // A table function (a view over the lake, inlined before shipping).
        "SELECT * FROM rfm(orders, customer_id, order_ts, amount)".to_string(),
        // A segment set (expanded by the client's analyzer).
        format!("SELECT segment_of('spend') AS s, count(*) AS n FROM {PER_CUSTOMER} GROUP BY s"),
        // A model function bound to the fitted model, which travels with the plan.
        format!("SELECT customer_id, cluster_assign('m', total, n) AS c, cluster_distance('m', total, n) AS d FROM {PER_CUSTOMER}"),
        // A model aggregate, bound the same way.
        format!("SELECT cluster_assign('m', total, n) AS c, model_mean('m', total, n) AS centre FROM {PER_CUSTOMER} GROUP BY c"),
        // Classifier functions, both kinds, and an explanation (TreeSHAP).
        format!("SELECT customer_id, predict_proba('logistic_reg', total) AS p, predict_label('boosted_tree_classifier', total) AS l, predict_proba('boosted_tree_classifier', total) AS q, explain_predict('boosted_tree_classifier', 1, total) AS e FROM {PER_CUSTOMER}"),
        // Uplift: the scalar function and the evaluation aggregate.
        format!("SELECT customer_id, predict_uplift('uplift_lin', total) AS x, predict_uplift('uplift_trees', total) AS t FROM {PER_CUSTOMER}"),
        format!("SELECT model_uplift_report('uplift_trees', s.converted, s.variant, p.total) AS r FROM campaign_sends s JOIN {PER_CUSTOMER} p USING (customer_id)"),
        // Window functions over a partition per customer.
        "SELECT customer_id, order_id, row_number() OVER (PARTITION BY customer_id ORDER BY order_ts, order_id) AS k, sum(amount) OVER (PARTITION BY customer_id ORDER BY order_ts, order_id) AS running FROM orders".to_string(),
    ];
    for sql in &queries {
        let expected = run(&local, sql).await;
        let got = remote
            .sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{sql} on the cluster: {e}"));
        assert_same(sql, &expected, &got);
    }

    // A forgotten customer: the suppression filter (bound to the list)
    // travels with the plan, and the executors leave them out too.
    let victim = "SELECT min(customer_id) FROM orders";
    let victim = run(&local, victim).await[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .value(0);
    let sql = "SELECT count(*) AS n, sum(amount) AS revenue, count(DISTINCT customer_id) AS buyers FROM orders";
    let before = run(&local, sql).await;
    run(&local, &format!("FORGET CUSTOMER {victim}")).await;
    let expected = run(&local, sql).await;
    assert_ne!(
        rows(&before),
        rows(&expected),
        "the forget changed nothing locally"
    );
    let got = remote.sql(sql).await.unwrap().collect().await.unwrap();
    assert_same(sql, &expected, &got);
    let theirs = format!("SELECT count(*) FROM orders WHERE customer_id = {victim}");
    let got = remote.sql(&theirs).await.unwrap().collect().await.unwrap();
    assert_eq!(
        got[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0),
        0
    );
}

/// The error connecting `engine` to `address` fails with.
async fn connect_error(engine: Engine, address: &str) -> String {
    match microseg::cluster::connect(engine, address).await {
        Ok(_) => panic!("{address}: expected an error"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_named() {
    let port = free_port();
    let engine = open_partitioned(&small_lake_str()).await;
    let address = format!("df://127.0.0.1:{port}");
    let err = connect_error(engine, &address).await;
    assert!(
        err.contains(&address) && err.contains("does not answer"),
        "{err}"
    );
    let engine = open_partitioned(&small_lake_str()).await;
    let err = connect_error(engine, "http://127.0.0.1:1").await;
    assert!(err.contains("df://HOST:PORT"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_lake_is_refused() {
    let store = microseg::lake::memory_store("cluster-refused");
    let batch = crate::support::batch(vec![(
        "x",
        crate::support::col(datafusion::arrow::array::Int64Array::from(vec![1, 2])),
    )]);
    object_store::ObjectStoreExt::put(
        store.as_ref(),
        &object_store::path::Path::from("lake/t/part-0.parquet"),
        parquet_bytes(&batch).into(),
    )
    .await
    .unwrap();
    let engine = open_partitioned("memory://cluster-refused/lake").await;
    let err = connect_error(engine, "df://127.0.0.1:1").await;
    assert!(
        err.contains("memory://cluster-refused/lake") && err.contains("executors cannot read"),
        "{err}"
    );
}

/// A child process stopped with SIGTERM when dropped (test failures too).
pub(crate) struct Process(pub(crate) Child);

impl Process {
    /// Starts `microseg args…` with `env` added to its environment and
    /// waits for its "ready" line on stderr.
    fn start(args: &[&str], env: &[(&str, String)]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_microseg"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start microseg");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("ready") => return Process(child),
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("microseg {args:?} never became ready:\n{}", seen.join("\n"));
                }
            }
        }
    }

    /// SIGTERM, then the exit status (within 30 s).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(crate) fn sql_output(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_microseg"))
        .arg("sql")
        .args(args)
        .env_remove("MICROSEG_CLUSTER")
        .output()
        .expect("run microseg sql")
}

/// A scheduler and two executor processes on loopback; the executors come
/// with their Flight addresses.
pub(crate) struct Processes {
    pub(crate) scheduler_addr: String,
    pub(crate) scheduler: Process,
    pub(crate) executors: Vec<(Process, String)>,
}

pub(crate) fn start_processes(
    executor_timeout: &str,
    heartbeat: &str,
    extra: &[&str],
) -> Processes {
    start_processes_with_env(executor_timeout, heartbeat, extra, &[], &[])
}

/// [`start_processes`] with `scheduler_env` and `executor_env` (object
/// store credentials) in the processes' environments.
pub(crate) fn start_processes_with_env(
    executor_timeout: &str,
    heartbeat: &str,
    extra: &[&str],
    scheduler_env: &[(&str, String)],
    executor_env: &[(&str, String)],
) -> Processes {
    let scheduler_addr = format!("127.0.0.1:{}", free_port());
    let scheduler = Process::start(
        &[
            "cluster",
            "scheduler",
            "--bind",
            &scheduler_addr,
            "--executor-timeout",
            executor_timeout,
        ],
        scheduler_env,
    );
    let executors = (0..2)
        .map(|_| {
            let bind = format!("127.0.0.1:{}", free_port());
            let grpc = free_port().to_string();
            let mut args = vec![
                "cluster",
                "executor",
                "--scheduler",
                &scheduler_addr,
                "--bind",
                &bind,
                "--grpc-port",
                &grpc,
                "--heartbeat",
                heartbeat,
                "--concurrent-tasks",
                "2",
            ];
            args.extend(extra);
            (Process::start(&args, executor_env), bind)
        })
        .collect();
    Processes {
        scheduler_addr,
        scheduler,
        executors,
    }
}

/// The arguments of `microseg sql` running `sql` on `lake` (CSV out), and
/// the local run's output, which must succeed.
pub(crate) fn local_run<'a>(lake: &'a str, sql: &'a str) -> ([&'a str; 9], std::process::Output) {
    let common = [
        "--lake",
        lake,
        "--target-partitions",
        "4",
        "--format",
        "csv",
        "-q",
        "-c",
        sql,
    ];
    let local = sql_output(&common);
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    (common, local)
}

#[test]
fn cluster_processes_answer_sql_cluster() {
    let lake = small_lake_str();
    let Processes {
        scheduler_addr,
        mut scheduler,
        mut executors,
    } = start_processes("20", "5", &["--memory-limit", "512MiB"]);
    let sql = "SELECT channel, count(*) AS n, sum(amount) AS revenue FROM orders GROUP BY channel ORDER BY channel";
    let (common, local) = local_run(&lake, sql);
    let cluster_url = format!("df://{scheduler_addr}");
    let mut args = common.to_vec();
    args.extend(["--cluster", cluster_url.as_str()]);
    let remote = sql_output(&args);
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&remote.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    assert!(String::from_utf8_lossy(&local.stdout).lines().count() > 1);

    // The environment variable does the same.
    let remote = Command::new(env!("CARGO_BIN_EXE_microseg"))
        .arg("sql")
        .args(common)
        .env("MICROSEG_CLUSTER", &cluster_url)
        .output()
        .unwrap();
    assert_eq!(
        remote.stdout,
        local.stdout,
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );

    for (executor, _) in &mut executors {
        assert!(executor.terminate().success(), "executor exit on SIGTERM");
    }
    assert!(scheduler.terminate().success(), "scheduler exit on SIGTERM");

    // With the scheduler gone the client names the address.
    let o = sql_output(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&cluster_url) && err.contains("does not answer"),
        "{err}"
    );
}

fn materialize(lake: &std::path::Path, as_of: &str, cluster: Option<&str>) {
    let job =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/jobs/daily_segments.toml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_microseg"));
    command
        .arg("materialize")
        .arg("--lake")
        .arg(lake)
        .arg(job)
        .args(["--as-of", as_of, "--target-partitions", "4"])
        .env_remove("MICROSEG_CLUSTER")
        .env_remove("MICROSEG_LAKE");
    if let Some(address) = cluster {
        command.args(["--cluster", address]);
    }
    let o = command.output().expect("run microseg materialize");
    assert!(
        o.status.success(),
        "materialize --as-of {as_of} {cluster:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Delta tables (the newest version and `table_at`) travel as the file
/// lists of the versions the client pinned, and `materialize --cluster`
/// writes the same table as a local run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delta_tables_and_materialize_run_on_a_cluster() {
    let (scheduler, _executors) = start_cluster().await;
    let address = format!("df://{}", scheduler.addr());

    let local_lake = small_lake_copy();
    let cluster_lake = small_lake_copy();
    for as_of in ["2025-09-30", "2025-10-31"] {
        materialize(local_lake.path(), as_of, None);
        materialize(cluster_lake.path(), as_of, Some(&address));
    }
    let local = open_partitioned(&local_lake.path().to_string_lossy()).await;
    // The table the cluster wrote, read locally: the same rows.
    let written = open_partitioned(&cluster_lake.path().to_string_lossy()).await;
    let all = "SELECT * FROM segments.customer_segments";
    assert_same(all, &run(&local, all).await, &run(&written, all).await);

    let remote = microseg::cluster::connect(
        open_partitioned(&local_lake.path().to_string_lossy()).await,
        &address,
    )
    .await
    .unwrap();
    let queries = [
        all,
        "SELECT as_of, rfm_segment, lifecycle, count(*) AS n, avg(CAST(monetary AS DOUBLE)) AS m FROM segments.customer_segments GROUP BY as_of, rfm_segment, lifecycle",
        // The first version holds only the first date.
        "SELECT as_of, count(*) AS n FROM table_at('segments.customer_segments', 0) GROUP BY as_of",
        // A Delta table joined to a Parquet table, the same table twice.
        "SELECT c.city, s.as_of, count(*) AS n FROM segments.customer_segments s JOIN customers c ON s.customer_id = c.customer_id JOIN segments.customer_segments t ON t.customer_id = s.customer_id AND t.as_of = s.as_of GROUP BY c.city, s.as_of",
    ];
    // A version given as a parameter, bound by EXECUTE.
    for engine in [&local, &remote] {
        run(
            engine,
            "PREPARE at_version(BIGINT) AS SELECT as_of, count(*) AS n FROM table_at('segments.customer_segments', $1) GROUP BY as_of",
        )
        .await;
    }
    for version in [0, 1] {
        let sql = format!("EXECUTE at_version({version})");
        assert_same(&sql, &run(&local, &sql).await, &run(&remote, &sql).await);
    }
    for sql in queries {
        let expected = run(&local, sql).await;
        let got = remote
            .sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{sql} on the cluster: {e}"));
        assert_same(sql, &expected, &got);
    }
    let versions = run(
        &local,
        "SELECT count(DISTINCT as_of) FROM table_at('segments.customer_segments', 0)",
    )
    .await;
    assert_eq!(
        ScalarValue::try_from_array(versions[0].column(0), 0).unwrap(),
        ScalarValue::Int64(Some(1)),
        "version 0 should hold one snapshot date, else the table_at query tests nothing"
    );

    // A table in the client's memory travels with the plan as its rows.
    run(
        &remote,
        "CREATE TABLE scratch (k BIGINT) AS VALUES (1), (2), (40)",
    )
    .await;
    let sum = run(&remote, "SELECT sum(k) FROM scratch").await;
    assert_eq!(
        ScalarValue::try_from_array(sum[0].column(0), 0).unwrap(),
        ScalarValue::Int64(Some(43))
    );
    // DataFusion's series tables travel as their arguments: the same rows
    // as locally, for integers, an exclusive range, timestamps with a
    // calendar step, a time zone, and a NULL argument (no rows).
    for sql in [
        "SELECT sum(value), count(*), min(value), max(value) FROM generate_series(-7, 1000, 3)",
        "SELECT sum(value), count(*) FROM range(10, 0, -2)",
        "SELECT count(*), min(value), max(value) FROM generate_series(TIMESTAMP '2024-01-31 10:00:00', TIMESTAMP '2025-03-01 00:00:00', INTERVAL '1 month')",
        "SELECT count(*), max(value) FROM generate_series(arrow_cast(TIMESTAMP '2024-03-30 12:00:00', 'Timestamp(Nanosecond, Some(\"Europe/Berlin\"))'), arrow_cast(TIMESTAMP '2024-04-02 12:00:00', 'Timestamp(Nanosecond, Some(\"Europe/Berlin\"))'), INTERVAL '1 day')",
        "SELECT count(*) FROM generate_series(1, NULL)",
        "SELECT o.customer_id, s.value FROM orders o JOIN generate_series(1, 5) s ON o.customer_id = s.value ORDER BY 1, 2",
    ] {
        let here = pretty_format_batches(&run(&local, sql).await)
            .unwrap()
            .to_string();
        let there = pretty_format_batches(&run(&remote, sql).await)
            .unwrap()
            .to_string();
        assert_eq!(here, there, "{sql}");
    }
}

/// `kill -9` of one executor while a multi-stage query runs: the query
/// completes with the local answer (Ballista retries the lost tasks on the
/// other executor) or fails naming what was lost — within the scheduler's
/// executor timeout plus 30 s, never a hang.
#[test]
fn a_killed_executor_does_not_hang_a_query() {
    let lake = crate::fixtures::medium_lake()
        .to_string_lossy()
        .into_owned();
    let Processes {
        scheduler_addr,
        scheduler: _scheduler,
        mut executors,
    } = start_processes("5", "1", &[]);
    // A self join through a hash repartition, then an aggregate: three stages.
    let sql = "SELECT a.channel, count(*) AS n, sum(b.amount) AS s FROM orders a JOIN orders b ON a.customer_id = b.customer_id GROUP BY a.channel ORDER BY a.channel";
    let (common, local) = local_run(&lake, sql);

    let cluster_url = format!("df://{scheduler_addr}");
    let query = || {
        Command::new(env!("CARGO_BIN_EXE_microseg"))
            .arg("sql")
            .args(common)
            .args(["--cluster", &cluster_url])
            .env_remove("MICROSEG_CLUSTER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Process)
            .unwrap()
    };
    // The first query is running when the executor dies; the second starts
    // right after, while the scheduler still counts the dead executor (its
    // timeout is 5 s), so its tasks are sent there and must be retried.
    let first = query();
    std::thread::sleep(Duration::from_millis(300));
    let killed_at = Instant::now();
    let (victim, victim_addr) = &mut executors[0];
    victim.0.kill().unwrap();
    let _ = victim.0.wait();
    let second = query();
    for (which, mut client) in [("running", first), ("next", second)] {
        let deadline = Duration::from_secs(5 + 30);
        let status = loop {
            if let Some(status) = client.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                killed_at.elapsed() < deadline,
                "the {which} query hung {:?} after the executor at {victim_addr} was killed",
                killed_at.elapsed()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        client
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        client
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        eprintln!(
            "{which} query after kill -9 of {victim_addr}: {} {:?} after the kill\n{err}",
            if status.success() {
                "completed"
            } else {
                "failed"
            },
            killed_at.elapsed()
        );
        if status.success() {
            assert_eq!(out, String::from_utf8_lossy(&local.stdout), "{which} query");
        } else {
            assert!(
                err.contains("executor") || err.contains(victim_addr.as_str()),
                "{which} query: {err}"
            );
        }
    }
}

/// The scheduler's state of `job`: `None` while it is queued or running.
async fn job_outcome(scheduler: &str, job: &str) -> Option<Result<(), String>> {
    use ballista_core::serde::protobuf::GetJobStatusParams;
    use ballista_core::serde::protobuf::job_status::Status;
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    let mut client = SchedulerGrpcClient::connect(format!("http://{scheduler}"))
        .await
        .unwrap();
    let status = client
        .get_job_status(GetJobStatusParams {
            job_id: job.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .and_then(|s| s.status);
    match status {
        Some(Status::Failed(failed)) => Some(Err(failed.error)),
        Some(Status::Successful(_)) => Some(Ok(())),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_query_cancels_its_cluster_job() {
    use futures::StreamExt;
    let lake = crate::fixtures::medium_lake()
        .to_string_lossy()
        .into_owned();
    let (scheduler, _executors) = start_cluster().await;
    let address = format!("df://{}", scheduler.addr());
    let engine = microseg::cluster::connect(open_partitioned(&lake).await, &address)
        .await
        .unwrap();
    // About a third of all order pairs: minutes of work for the executors.
    let long = "SELECT count(*), sum(a.amount * b.amount) FROM orders a JOIN orders b ON a.customer_id % 3 = b.customer_id % 3";
    let df = engine.sql(long).await.unwrap();
    let task = std::sync::Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.unwrap();
    let mut stream = datafusion::physical_plan::execute_stream(plan.clone(), task).unwrap();
    let early = tokio::time::timeout(Duration::from_secs(3), stream.next()).await;
    assert!(early.is_err(), "the long query ended within 3 s: {early:?}");
    let job = microseg::cluster::job_id(plan.as_ref()).expect("the scheduler accepted the job");
    drop(stream);

    // Without the cancel the job runs on (or even succeeds): both fail here.
    let scheduler_addr = scheduler.addr().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        if let Some(outcome) = job_outcome(&scheduler_addr, &job).await {
            break outcome;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still runs 30 s after its reader went away"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let error = outcome.expect_err("an abandoned job must not run to success");
    assert!(error.to_lowercase().contains("cancel"), "{error}");

    // Its tasks were aborted: all four task slots serve the next query at once
    // (had they been kept, it would queue behind minutes of join work).
    let started = Instant::now();
    let next = tokio::time::timeout(
        Duration::from_secs(60),
        run(&engine, "SELECT count(*) FROM customers"),
    )
    .await;
    assert!(
        next.is_ok(),
        "the next query waited {:?} for the cancelled job's task slots",
        started.elapsed()
    );
}
