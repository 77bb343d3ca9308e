//! Aggregations by one integer key run as `DenseAggregateExec`: the same
//! rows as DataFusion's hash aggregation, which the same query grouped by
//! the key as text still gets and which serves as the reference here.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use microseg::{Engine, EngineOptions};

use crate::fixtures::medium_lake;
use crate::support::run;

async fn engine(partitions: usize, memory_limit: Option<&str>) -> Engine {
    let options = EngineOptions {
        target_partitions: Some(partitions),
        memory_limit: memory_limit.map(str::to_string),
        ..EngineOptions::default()
    };
    let lake = medium_lake().to_string_lossy().into_owned();
    Engine::open(&lake, options)
        .await
        .expect("open the medium lake")
}

/// Every row as text, sorted: the plans may emit groups in any order.
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let text = pretty_format_batches(batches).expect("format").to_string();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

async fn plan(engine: &Engine, sql: &str) -> String {
    let batches = run(engine, &format!("EXPLAIN {sql}")).await;
    pretty_format_batches(&batches).expect("format").to_string()
}

/// `select` grouped by the integer key `k` (dense plan), and grouped by `k`
/// as text (DataFusion's hash plan), shown as the integer again.
fn both(select: &str) -> (String, String) {
    (
        select.replace("{out}", "k").replace("{key}", "k"),
        select
            .replace("{out}", "CAST(CAST(k AS VARCHAR) AS BIGINT)")
            .replace("{key}", "CAST(k AS VARCHAR)"),
    )
}

async fn same_as_hash_plan(engine: &Engine, select: &str) -> usize {
    let (dense, hashed) = both(select);
    let dense_plan = plan(engine, &dense).await;
    assert!(dense_plan.contains("DenseAggregateExec"), "{dense_plan}");
    let hash_plan = plan(engine, &hashed).await;
    assert!(!hash_plan.contains("DenseAggregateExec"), "{hash_plan}");
    let got = rows(&run(engine, &dense).await);
    let want = rows(&run(engine, &hashed).await);
    assert_eq!(got, want, "{dense}");
    got.len()
}

const ORDERS: &str = "SELECT {out} AS k, count(*) AS n, sum(amount) AS spent, max(order_ts) AS last, \
     min(n_items) AS fewest, avg(discount) AS discount, count(promo_code) AS promos, \
     sum(amount) FILTER (WHERE status = 'completed') AS completed \
     FROM (SELECT customer_id AS k, * FROM orders) GROUP BY {key}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_by_customer_match_the_hash_plan_at_any_partition_count() {
    for partitions in [1, 2, 3] {
        let engine = engine(partitions, None).await;
        let groups = same_as_hash_plan(&engine, ORDERS).await;
        assert!(groups > 3_000, "{groups} customers with orders");
    }
}

/// Keys of every kind in one column, written as three Parquet files (three
/// partitions): NULL, negative, dense and, with `sparse`, keys near both
/// ends of i64 that move the groups to the hash map.
async fn keys_table(engine: &Engine, dir: &std::path::Path, sparse: bool) {
    let sparse_key = if sparse {
        "WHEN v % 7 = 0 THEN (v * 1000003) - 4611686018427387904 \
         WHEN v % 11 = 0 THEN 9223372036854775807 - v \
         WHEN v % 13 = 0 THEN -9223372036854775807 + v"
    } else {
        ""
    };
    for part in 0..3 {
        let path = dir.join(format!("part-{part}.parquet"));
        run(
            engine,
            &format!(
                "COPY (SELECT CASE WHEN v % 97 = 0 THEN NULL {sparse_key} \
                 ELSE (v * 7919) % 5000 - 2500 END AS k, v, CAST(v % 3 AS INT) AS w \
                 FROM generate_series({}, {}) AS t(v)) TO '{}' STORED AS PARQUET",
                part * 40_000 + 1,
                part * 40_000 + 40_000,
                path.display()
            ),
        )
        .await;
    }
    run(
        engine,
        &format!(
            "CREATE EXTERNAL TABLE keys STORED AS PARQUET LOCATION '{}/'",
            dir.display()
        ),
    )
    .await;
}

const KEYS: &str = "SELECT {out} AS k, count(*) AS n, count(k) AS non_null, sum(v) AS total, \
     min(w) AS least, max(v) FILTER (WHERE w = 1) AS top_one FROM keys GROUP BY {key}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_negative_and_dense_keys_match_the_hash_plan() {
    // One stripe (one input partition) and three.
    for partitions in [1, 3] {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(partitions, None).await;
        keys_table(&engine, dir.path(), false).await;
        // 5,000 dense keys and the NULL group.
        assert_eq!(same_as_hash_plan(&engine, KEYS).await, 5_001);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_keys_near_the_ends_of_i64_match_the_hash_plan() {
    for partitions in [1, 3] {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(partitions, None).await;
        keys_table(&engine, dir.path(), true).await;
        assert!(same_as_hash_plan(&engine, KEYS).await > 30_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_join_above_keeps_its_hash_partitioned_aggregates() {
    let engine = engine(2, None).await;
    run(
        &engine,
        "SET datafusion.optimizer.hash_join_single_partition_threshold = 0",
    )
    .await;
    run(
        &engine,
        "SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0",
    )
    .await;
    let join = "SELECT a.k, a.n, b.spent FROM \
        (SELECT {out} AS k, count(*) AS n FROM (SELECT customer_id AS k FROM orders) GROUP BY {key}) a \
        JOIN (SELECT {out} AS k, sum(amount) AS spent FROM (SELECT customer_id AS k, amount FROM orders) GROUP BY {key}) b \
        ON a.k = b.k";
    let (dense, hashed) = both(join);
    let shown = plan(&engine, &dense).await;
    assert!(shown.contains("mode=Partitioned"), "{shown}");
    assert!(!shown.contains("DenseAggregateExec"), "{shown}");
    assert_eq!(
        rows(&run(&engine, &dense).await),
        rows(&run(&engine, &hashed).await)
    );
}

/// The `memory_estimate` EXPLAIN shows for the dense operator.
fn estimate(shown: &str) -> usize {
    let at = shown
        .find("memory_estimate=")
        .unwrap_or_else(|| panic!("{shown}"));
    shown[at + "memory_estimate=".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{shown}"))
}

/// The dense operator's own line of EXPLAIN ANALYZE.
async fn analyzed_line(engine: &Engine, sql: &str) -> String {
    let analyzed = plan(engine, &format!("ANALYZE {sql}")).await;
    analyzed
        .lines()
        .find(|l| l.contains("DenseAggregateExec"))
        .unwrap_or_else(|| panic!("{analyzed}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_memory_limit_too_small_for_it_the_replaced_plan_runs() {
    // Ten keys a billion apart: the estimate allows a group per row (the
    // key range is wider), DataFusion's plan needs ten.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("sparse.parquet");
    run(
        &engine(2, None).await,
        &format!(
            "COPY (SELECT (v % 10) * 1000000007 AS k, v FROM generate_series(1, 200000) AS t(v)) \
             TO '{}' STORED AS PARQUET",
            file.display()
        ),
    )
    .await;
    let query = format!(
        "SELECT k, count(*) AS n, sum(v) AS total FROM '{}' GROUP BY k",
        file.display()
    );
    let need = estimate(&plan(&engine(2, None).await, &query).await);
    assert!((200_000 * 24..200_000 * 200).contains(&need), "{need}");
    // A limit of twice the estimate leaves it room; of the estimate
    // itself, not: the operator runs DataFusion's plan instead.
    let roomy = engine(2, Some(&format!("{}B", 2 * need + 2))).await;
    assert!(
        analyzed_line(&roomy, &query)
            .await
            .contains("aggregation_time")
    );
    let small = engine(2, Some(&format!("{need}B"))).await;
    assert!(plan(&small, &query).await.contains("DenseAggregateExec"));
    // Its own metrics stay empty: the rows went through the plan it replaced.
    let line = analyzed_line(&small, &query).await;
    assert!(!line.contains("output_rows"), "{line}");
    let got = rows(&run(&small, &query).await);
    assert_eq!(got.len(), 10);
    assert_eq!(got, rows(&run(&roomy, &query).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unions_of_aggregations_by_key_keep_their_partitioning() {
    // DataFusion interleaves the hash partitions of such a union's inputs
    // (InterleaveExec), which needs both inputs partitioned alike.
    let engine = engine(2, None).await;
    let union = "SELECT {out} AS k, count(*) AS n FROM (SELECT customer_id AS k FROM orders) GROUP BY {key} \
        UNION ALL SELECT {out} AS k, sum(n_items) AS n FROM (SELECT customer_id AS k, n_items FROM orders) GROUP BY {key}";
    let distinct = "SELECT 'all' AS s, count(DISTINCT {key}) AS n FROM (SELECT customer_id AS k FROM orders) \
        UNION ALL SELECT 'big', count(DISTINCT {key}) FROM (SELECT customer_id AS k FROM orders WHERE amount > 50)";
    for select in [union, distinct] {
        let (dense, hashed) = both(select);
        let got = rows(&run(&engine, &dense).await);
        assert_eq!(got, rows(&run(&engine, &hashed).await), "{dense}");
        assert!(got.len() >= 2);
    }
}

#[test]
fn the_switch_leaves_datafusions_plan() {
    let lake = crate::fixtures::small_lake_str();
    let explain = |off: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_microseg"));
        command.args([
            "sql",
            "--lake",
            &lake,
            "-c",
            "EXPLAIN SELECT customer_id, count(*) FROM orders GROUP BY customer_id",
        ]);
        command.env_remove("MICROSEG_LAKE");
        if off {
            command.env("MICROSEG_DENSE_AGGREGATE", "off");
        } else {
            command.env_remove("MICROSEG_DENSE_AGGREGATE");
        }
        let out = command.output().expect("run microseg");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(explain(false).contains("DenseAggregateExec"));
    let off = explain(true);
    assert!(!off.contains("DenseAggregateExec"), "{off}");
    assert!(
        off.contains("AggregateExec: mode=FinalPartitioned"),
        "{off}"
    );
}
