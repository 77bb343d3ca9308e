//! Segmentation against independent references: rfm() against DuckDB on
//! the generated lake, top_affinity against the generator's planted
//! personas, and segment sets shared between engines through the lake.

use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use microseg::Engine;

use crate::fixtures::{small_lake, small_lake_copy, small_lake_str};
use crate::support::open;
use crate::support::{batch, col, parquet_bytes, write_parquet};

async fn strings(engine: &Engine, sql: &str) -> Vec<String> {
    let batches: Vec<RecordBatch> = engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column(0).as_string_view_opt().map(|a| {
                (0..a.len())
                    .map(|i| a.value(i).to_string())
                    .collect::<Vec<_>>()
            });
            c.unwrap_or_else(|| {
                let a = b.column(0).as_string::<i32>();
                (0..a.len()).map(|i| a.value(i).to_string()).collect()
            })
        })
        .collect()
}

fn python() -> PathBuf {
    // tests/run.sh puts its venv (with duckdb) first on PATH.
    PathBuf::from(std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into()))
}

/// Every customer, every column, compared with the same definition written
/// in plain SQL and run by DuckDB over the same Parquet files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfm_agrees_with_duckdb_on_every_customer() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/rfm_reference.py");
    let output = Command::new(python())
        .arg(&script)
        .arg(small_lake())
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with duckdb)");
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let duckdb: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();

    let engine = open(&small_lake_str()).await;
    let ours = strings(
        &engine,
        "SELECT concat_ws(',', customer_id,
                CAST(CAST(first_ts AS TIMESTAMP) AS BIGINT) / 1000,
                CAST(CAST(last_ts AS TIMESTAMP) AS BIGINT) / 1000,
                recency_days, tenure_days, frequency, CAST(monetary AS VARCHAR),
                r, f, m, rfm_code, segment)
         FROM rfm(orders, customer_id, order_ts, amount) ORDER BY customer_id",
    )
    .await;
    assert!(ours.len() > 100, "only {} customers", ours.len());
    assert_eq!(ours.len(), duckdb.len(), "customer counts differ");
    let differing: Vec<_> = ours
        .iter()
        .zip(&duckdb)
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(
        differing.is_empty(),
        "microseg vs DuckDB (first differences):\n{differing:#?}"
    );
    // Every score level is used, so the comparison covers the whole map.
    let segments = strings(
        &engine,
        "SELECT DISTINCT segment FROM rfm(orders, customer_id, order_ts, amount)",
    )
    .await;
    assert!(segments.len() >= 8, "segments: {segments:?}");
}

/// Craft-beer aficionados are planted with half their basket in craft beer
/// and a quarter in regional beer; other personas buy beer far less. So a
/// customer whose highest-lift subcategory (with ≥ 20% of their spend) is
/// craft or regional beer should be an aficionado.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_affinity_recovers_craft_beer_aficionados() {
    let engine = open(&small_lake_str()).await;
    engine
        .sql("CREATE VIEW line_revenue AS SELECT customer_id, subcategory, quantity * unit_price AS revenue FROM order_items")
        .await
        .unwrap();
    let truth = small_lake().join("_truth/personas/part-0.parquet");
    let sql = format!(
        "WITH top AS (
           SELECT customer_id, subcategory AS item FROM top_affinity(line_revenue, customer_id, subcategory, revenue)
         ), truth AS (SELECT customer_id, persona FROM '{}')
         SELECT
           sum(CASE WHEN t.item IN ('craft_beer', 'regional_beer') AND p.persona = 'craft_beer_aficionado' THEN 1 ELSE 0 END),
           sum(CASE WHEN t.item IN ('craft_beer', 'regional_beer') THEN 1 ELSE 0 END),
           sum(CASE WHEN p.persona = 'craft_beer_aficionado' THEN 1 ELSE 0 END)
         FROM truth p LEFT JOIN top t USING (customer_id)",
        truth.display()
    );
    let batches = engine.sql(&sql).await.unwrap().collect().await.unwrap();
    let value = |i: usize| batches[0].column(i).as_primitive::<Int64Type>().value(0) as f64;
    let (hits, predicted, actual) = (value(0), value(1), value(2));
    let precision = hits / predicted;
    let recall = hits / actual;
    println!(
        "top_affinity craft beer: precision {precision:.3} ({hits}/{predicted}), recall {recall:.3} ({hits}/{actual})"
    );
    assert!(actual >= 10.0, "too few aficionados in the lake: {actual}");
    // Floors: see the measured figures in the closing note of the test's commit
    // and the reasoning above; a broken lift or share breaks both at once.
    assert!(precision >= 0.8, "precision {precision:.3}");
    assert!(recall >= 0.7, "recall {recall:.3}");
}

/// A segment set created through one engine is used by another engine that
/// opened the same lake before it existed (as another process would), on a
/// local lake and on an object store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_sets_are_shared_through_the_lake() {
    let people = batch(vec![
        (
            "customer_id",
            col(datafusion::arrow::array::Int64Array::from(vec![1, 2, 3])),
        ),
        (
            "spend",
            col(datafusion::arrow::array::Float64Array::from(vec![
                5.0, 50.0, 500.0,
            ])),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("people/part-0.parquet"), &people);
    let store = microseg::lake::memory_store("segment-sets-shared");
    object_store::ObjectStoreExt::put(
        store.as_ref(),
        &object_store::path::Path::from("lake/people/part-0.parquet"),
        parquet_bytes(&people).into(),
    )
    .await
    .unwrap();

    for location in [
        dir.path().to_string_lossy().into_owned(),
        "memory://segment-sets-shared/lake".to_string(),
    ] {
        let a = open(&location).await;
        let b = open(&location).await;
        a.sql("CREATE SEGMENT SET spenders ('big' WHEN spend >= 100, 'mid' WHEN spend >= 10, ELSE 'small')")
            .await
            .unwrap_or_else(|e| panic!("{location}: {e}"));
        let got = strings(
            &b,
            "SELECT segment_of('spenders') FROM people ORDER BY customer_id",
        )
        .await;
        assert_eq!(got, ["small", "mid", "big"], "{location}");
        // A third engine opened later sees it too, and the file is in the lake.
        let c = open(&location).await;
        assert_eq!(
            strings(&c, "SHOW SEGMENT SETS").await,
            ["spenders"],
            "{location}"
        );
        a.sql("DROP SEGMENT SET spenders").await.unwrap();
        let err = b
            .sql("SELECT segment_of('spenders') FROM people")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown segment set 'spenders'"), "{err}");
        drop(c);
    }
    assert!(
        !dir.path()
            .join("_microseg/segment_sets/spenders.json")
            .exists(),
        "dropped set still on disk"
    );
}

/// segment_of is planned as the CASE expression it stands for: visible to
/// the optimizer and executed as one vectorized expression.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_of_is_a_case_expression_in_the_plan() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    engine
        .sql("CREATE OR REPLACE SEGMENT SET plan_check ('big' WHEN amount >= 100, ELSE 'small')")
        .await
        .unwrap();
    let batches = engine
        .sql("EXPLAIN SELECT segment_of('plan_check') AS s FROM orders")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let plans = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    engine.sql("DROP SEGMENT SET plan_check").await.unwrap();
    assert!(
        plans.contains(r#"CASE WHEN orders.amount >= Decimal128(100.00,12,2) THEN Utf8("big") ELSE Utf8("small") END AS s"#),
        "{plans}"
    );
    assert!(!plans.contains("segment_of"), "{plans}");
}

/// The ready sets of sql/segments/ load and mean what they say on the lake:
/// rfm_standard is the same map as rfm_segment, lifecycle labels everyone,
/// and the value tiers hold at most their nominal share of customers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_library_sets_work_on_the_lake() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/segments");
    for name in ["rfm_standard", "lifecycle", "value_tiers"] {
        let sql = std::fs::read_to_string(dir.join(format!("{name}.sql"))).unwrap();
        for statement in engine.split_script(&sql).unwrap() {
            engine
                .sql(&statement.sql)
                .await
                .unwrap_or_else(|e| panic!("{name}.sql line {}: {e}", statement.line))
                .collect()
                .await
                .unwrap();
        }
    }
    engine
        .sql("CREATE VIEW c AS SELECT * FROM rfm(orders, customer_id, order_ts, amount)")
        .await
        .unwrap();
    let counts = |sql: &'static str| {
        let engine = &engine;
        async move {
            let batches = engine.sql(sql).await.unwrap().collect().await.unwrap();
            (0..batches[0].num_columns())
                .map(|i| batches[0].column(i).as_primitive::<Int64Type>().value(0))
                .collect::<Vec<i64>>()
        }
    };
    let [customers, differ] = counts(
        "SELECT count(*), sum(CASE WHEN segment_of('rfm_standard') = segment THEN 0 ELSE 1 END) FROM c",
    )
    .await[..] else {
        panic!()
    };
    assert!(customers > 100);
    assert_eq!(differ, 0, "rfm_standard and rfm_segment disagree");
    let [unlabelled, labels] = counts(
        "SELECT sum(CASE WHEN l IS NULL THEN 1 ELSE 0 END), count(DISTINCT l) FROM (SELECT segment_of('lifecycle') AS l FROM c)",
    )
    .await[..] else {
        panic!()
    };
    assert_eq!(unlabelled, 0);
    assert_eq!(labels, 4, "new, active, at_risk and lapsed all occur");
    let tiers = counts(
        "SELECT sum(CASE WHEN t = 'top_1pct' THEN 1 ELSE 0 END),
                sum(CASE WHEN t IN ('top_1pct', 'top_5pct') THEN 1 ELSE 0 END),
                sum(CASE WHEN t <> 'rest' THEN 1 ELSE 0 END)
         FROM (SELECT segment_of('value_tiers') AS t FROM c)",
    )
    .await;
    for (got, share) in tiers.iter().zip([0.01, 0.05, 0.20]) {
        let nominal = (share * customers as f64).ceil() as i64;
        assert!(
            *got >= 1 && *got <= nominal,
            "tier of {share}: {got} of {customers}"
        );
    }
}
