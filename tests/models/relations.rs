//! Relations over models: lookalike, model_evaluate, model_mean and
//! model_distance, EXPLAIN and streaming under a memory limit.

use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use microseg::{Engine, EngineOptions};

use super::{FEATURES, describe, rel_close};
use crate::fixtures::small_lake_copy;
use crate::support::{error, open, run};

/// lookalike: the n candidates nearest to the seed audience's mean point in
/// the standardized space, checked against the same distance written out in
/// plain SQL (z-scores with the training mean and population std).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookalike_finds_the_nearest_candidates() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    for sql in [
        "CREATE VIEW f AS SELECT customer_id, recency_days, frequency, CAST(monetary AS DOUBLE) AS monetary, segment FROM rfm(orders, customer_id, order_ts, amount)",
        "CREATE MODEL la OPTIONS (model_type 'kmeans', num_clusters 4, seed 2) AS SELECT recency_days, frequency, monetary FROM f",
        "CREATE VIEW champions AS SELECT recency_days, frequency, monetary FROM f WHERE segment = 'champions'",
        "CREATE VIEW others AS SELECT customer_id, recency_days, frequency, monetary FROM f WHERE segment <> 'champions'",
        "CREATE VIEW \"Others2\" AS SELECT customer_id, recency_days, frequency FROM f",
        "CREATE VIEW two AS SELECT recency_days, frequency FROM f",
        "CREATE VIEW nobody AS SELECT recency_days, frequency, monetary FROM f WHERE false",
    ] {
        run(&engine, sql).await;
    }
    let ours = run(
        &engine,
        "SELECT customer_id, distance FROM lookalike('la', champions, others, 15) ORDER BY distance, customer_id",
    )
    .await;
    let reference = run(
        &engine,
        "WITH t AS (SELECT avg(recency_days) AS mr, stddev_pop(recency_days) AS sr,
                           avg(frequency) AS mf, stddev_pop(frequency) AS sf,
                           avg(monetary) AS mm, stddev_pop(monetary) AS sm FROM f),
              s AS (SELECT avg(recency_days) AS r, avg(frequency) AS fr, avg(monetary) AS m FROM f WHERE segment = 'champions')
         SELECT customer_id,
                sqrt(power((recency_days - s.r) / t.sr, 2) + power((frequency - s.fr) / t.sf, 2) + power((monetary - s.m) / t.sm, 2)) AS distance
         FROM f, t, s WHERE segment <> 'champions' ORDER BY distance, customer_id LIMIT 15",
    )
    .await;
    let (ours, reference) = (id_distance(&ours), id_distance(&reference));
    assert_eq!(ours.len(), 15);
    same_neighbours(&ours, &reference);

    // The output: the candidates' columns, then the distance; names may be
    // strings or identifiers, and the seeds may be the candidates' table.
    let batches = run(
        &engine,
        "SELECT * FROM lookalike(la, 'champions', others, 2)",
    )
    .await;
    let names: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "customer_id",
            "recency_days",
            "frequency",
            "monetary",
            "distance"
        ]
    );

    // n and the model as parameters of a prepared statement.
    run(
        &engine,
        "PREPARE near(BIGINT) AS SELECT customer_id, distance FROM lookalike('la', champions, others, $1)",
    )
    .await;
    let got = id_distance(&run(&engine, "EXECUTE near(4)").await);
    assert_eq!(got.len(), 4);
    same_neighbours(&got, &reference[..4]);
    run(
        &engine,
        "PREPARE near_model AS SELECT customer_id, distance FROM lookalike($1, champions, others, $2)",
    )
    .await;
    let got = id_distance(&run(&engine, "EXECUTE near_model('la', 6)").await);
    assert_eq!(got.len(), 6);
    same_neighbours(&got, &reference[..6]);
    let err = error(&engine, "EXECUTE near_model('nope', 6)").await;
    assert!(err.contains("unknown model nope"), "{err}");

    for (sql, expected) in [
        (
            "SELECT * FROM lookalike('la', nowhere, others, 5)",
            "lookalike: argument 2 (seeds): unknown table nowhere",
        ),
        (
            "SELECT * FROM lookalike('la', champions, nowhere, 5)",
            "lookalike: argument 3 (candidates): unknown table nowhere",
        ),
        (
            "SELECT * FROM lookalike('la', two, \"Others2\", 5)",
            "model_mean: model la@1 has 3 features (recency_days, frequency, monetary), got 2",
        ),
        (
            "SELECT * FROM lookalike('la', champions, \"Others2\", 5)",
            "argument 2 (seeds) champions has 3 columns, but argument 3 (candidates) Others2 has 2",
        ),
        (
            "SELECT * FROM lookalike('la', nobody, others, 5)",
            "the seed relation has no rows",
        ),
        (
            "SELECT * FROM lookalike('la', champions, others, 0)",
            "argument 4 (n) must be a whole number ≥ 1",
        ),
        (
            "SELECT * FROM lookalike('nope', champions, others, 5)",
            "unknown model nope",
        ),
        (
            "SELECT * FROM lookalike('la', champions, others)",
            "lookalike: expected 4 arguments, got 3",
        ),
    ] {
        let err = error(&engine, sql).await;
        assert!(
            err.contains(expected),
            "{sql}\n  expected: {expected}\n  got: {err}"
        );
    }
}

/// (first column as i64, second as f64) of every row.
fn id_distance(batches: &[RecordBatch]) -> Vec<(i64, f64)> {
    batches
        .iter()
        .flat_map(|b| {
            let id = b.column(0).as_primitive::<Int64Type>().clone();
            let d = b
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .clone();
            (0..b.num_rows()).map(move |i| (id.value(i), d.value(i)))
        })
        .collect()
}

fn same_neighbours(ours: &[(i64, f64)], reference: &[(i64, f64)]) {
    assert_eq!(ours.len(), reference.len());
    for ((a, da), (b, db)) in ours.iter().zip(reference) {
        assert_eq!(a, b, "ours {ours:?}\nreference {reference:?}");
        // The model stores its training statistics as f64, the seed mean is
        // summed in f64: only rounding separates the two.
        assert!((da - db).abs() <= 1e-5 * db.max(1.0), "{da} vs {db}");
    }
}

/// EXPLAIN plans lookalike and model_evaluate without reading a row: their
/// relations are views that fail when read (an integer division by zero,
/// row by row), yet EXPLAIN succeeds; running them fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_runs_nothing() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    for sql in [
        "CREATE VIEW f AS SELECT customer_id, recency_days, frequency, CAST(monetary AS DOUBLE) AS monetary FROM rfm(orders, customer_id, order_ts, amount)",
        "CREATE MODEL ex OPTIONS (model_type 'kmeans', num_clusters 3, seed 1) AS SELECT recency_days, frequency, monetary FROM f",
        "CREATE VIEW seeds AS SELECT recency_days, frequency, monetary FROM f",
        "CREATE VIEW boom AS SELECT recency_days, frequency, monetary FROM f WHERE 1 / (frequency - frequency) = 1",
        "CREATE VIEW boom_candidates AS SELECT customer_id, recency_days, frequency, monetary FROM f WHERE 1 / (frequency - frequency) = 1",
    ] {
        run(&engine, sql).await;
    }
    for (sql, shows) in [
        (
            "SELECT * FROM lookalike('ex', boom, f, 5)",
            vec!["model_mean", "model_distance", "fetch=5"],
        ),
        (
            "SELECT * FROM lookalike('ex', seeds, boom_candidates, 5)",
            vec!["model_mean", "model_distance"],
        ),
        (
            "SELECT * FROM model_evaluate('ex', boom)",
            vec!["model_quality"],
        ),
    ] {
        // What a server's GetFlightInfo or CreatePreparedStatement does.
        engine
            .plan(sql)
            .await
            .unwrap_or_else(|e| panic!("plan {sql}: {e}"));
        let plan = run(&engine, &format!("EXPLAIN {sql}")).await;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
            .unwrap()
            .to_string();
        for needle in shows {
            assert!(
                text.contains(needle),
                "EXPLAIN {sql}: no {needle} in\n{text}"
            );
        }
        let err = error(&engine, sql).await;
        assert!(
            err.to_lowercase().contains("divide by zero"),
            "{sql}: {err}"
        );
    }
}

/// Under a 2 MiB pool, lookalike and model_evaluate over two million rows
/// finish: the candidates stream into a top-n sort, the quality into a
/// bounded aggregate. Closed forms: the seed is the single amount 42, so the
/// candidates at distance 0 are those with v % 97 = 42, in id order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_relations_stream_under_a_small_memory_limit() {
    let lake = small_lake_copy();
    let options = EngineOptions {
        memory_limit: Some("2MiB".into()),
        target_partitions: Some(2),
        ..Default::default()
    };
    let engine = Engine::open(&lake.path().to_string_lossy(), options)
        .await
        .unwrap();
    for sql in [
        "CREATE MODEL mem OPTIONS (model_type 'kmeans', num_clusters 2, seed 1) AS SELECT CAST(v AS DOUBLE) AS amount FROM generate_series(1, 100) t(v)",
        "CREATE VIEW seed AS SELECT CAST(42 AS DOUBLE) AS amount",
        "CREATE VIEW big AS SELECT v AS id, CAST(v % 97 AS DOUBLE) AS amount FROM generate_series(1, 2000000) t(v)",
        "CREATE VIEW big_amounts AS SELECT amount FROM big",
        "CREATE VIEW order_amounts AS SELECT CAST(amount AS DOUBLE) AS amount FROM orders",
    ] {
        run(&engine, sql).await;
    }
    let finished = |result: Result<Vec<RecordBatch>, String>| match result {
        Ok(batches) => Some(batches),
        Err(e) => {
            assert!(e.contains("Resources exhausted"), "{e}");
            println!("refused by the pool: {e}");
            None
        }
    };
    let collect = |sql: &'static str| {
        let engine = &engine;
        async move {
            match engine.sql(sql).await {
                Ok(df) => df.collect().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    if let Some(batches) =
        finished(collect("SELECT id, distance FROM lookalike(mem, seed, big, 10)").await)
    {
        let got = id_distance(&batches);
        let want: Vec<(i64, f64)> = (0..10).map(|i| (42 + 97 * i, 0.0)).collect();
        assert_eq!(got, want);
    }
    if let Some(batches) = finished(
        collect("SELECT rows, silhouette_sample FROM model_evaluate(mem, big_amounts)").await,
    ) {
        let b = &batches[0];
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 2_000_000);
        assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 2000);
    }
    let orders = run(&engine, "SELECT count(*) FROM orders").await;
    let orders = orders[0].column(0).as_primitive::<Int64Type>().value(0);
    if let Some(batches) =
        finished(collect("SELECT rows FROM model_evaluate(mem, order_amounts)").await)
    {
        assert_eq!(
            batches[0].column(0).as_primitive::<Int64Type>().value(0),
            orders
        );
    }
}

/// model_evaluate against scikit-learn's silhouette and Davies–Bouldin
/// scores of the same labels (all rows: fewer than the 2,000-row sample).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_evaluate_matches_scikit_learn() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &format!("CREATE VIEW features AS {FEATURES}")).await;
    let columns = "recency_days, frequency, avg_amount, app_share, store_share, mean_hour";
    run(
        &engine,
        &format!("CREATE MODEL ev OPTIONS (model_type 'kmeans', num_clusters 6, seed 4) AS SELECT {columns} FROM features"),
    )
    .await;
    let csv = lake.path().join("labelled.csv");
    run(
        &engine,
        &format!(
            "COPY (SELECT {columns}, cluster_assign('ev', {columns}) AS label FROM features) TO '{}' STORED AS CSV",
            csv.display()
        ),
    )
    .await;
    run(
        &engine,
        &format!("CREATE VIEW evaluated AS SELECT {columns} FROM features"),
    )
    .await;
    let batches = run(&engine, "SELECT * FROM model_evaluate('ev', evaluated)").await;
    let f64_at = |i: usize| {
        batches[0]
            .column(i)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .value(0)
    };
    let rows = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    let (msd, db, sil) = (f64_at(1), f64_at(2), f64_at(3));
    let described = describe(&engine, "ev").await;
    assert_eq!(described["rows"], rows.to_string());
    let trained: f64 = described["metric.mean_squared_distance"].parse().unwrap();
    assert!(rel_close(msd, trained, 1e-5), "{msd} vs {trained}");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/cluster_metrics_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .arg(&csv)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut values = text.split_whitespace().map(|v| v.parse::<f64>().unwrap());
    let (sk_sil, sk_db) = (values.next().unwrap(), values.next().unwrap());
    println!(
        "silhouette {sil:.5} (scikit-learn {sk_sil:.5}), Davies–Bouldin {db:.5} (scikit-learn {sk_db:.5})"
    );
    assert!(rel_close(sil, sk_sil, 1e-4), "silhouette {sil} vs {sk_sil}");
    assert!(rel_close(db, sk_db, 1e-4), "Davies–Bouldin {db} vs {sk_db}");
    assert_eq!(
        batches[0].column(4).as_primitive::<Int64Type>().value(0),
        rows
    );
    // The model as a parameter: the same row.
    run(
        &engine,
        "PREPARE evaluate_model AS SELECT * FROM model_evaluate($1, evaluated)",
    )
    .await;
    let again = run(&engine, "EXECUTE evaluate_model('ev')").await;
    assert_eq!(again[0].column(0), batches[0].column(0));
    for i in 1..4 {
        let (a, b) = (
            again[0]
                .column(i)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(0),
            f64_at(i),
        );
        // Partitions may merge in another order: rounding apart.
        assert!(rel_close(a, b, 1e-12), "column {i}: {a} vs {b}");
    }
    run(&engine, "CREATE VIEW one AS SELECT 1 AS x").await;
    for (sql, expected) in [
        (
            "SELECT * FROM model_evaluate('ev', one)",
            "model_quality: model ev@1 has 6 features",
        ),
        (
            "SELECT * FROM model_evaluate('ev', nowhere)",
            "model_evaluate: argument 2 (relation): unknown table nowhere",
        ),
    ] {
        let err = error(&engine, sql).await;
        assert!(err.contains(expected), "{sql}: {err}");
    }
    // No rows: a count of 0 and no metrics.
    run(
        &engine,
        &format!("CREATE VIEW none AS SELECT {columns} FROM features WHERE false"),
    )
    .await;
    let empty = run(
        &engine,
        "SELECT rows, silhouette, silhouette_sample FROM model_evaluate('ev', none)",
    )
    .await;
    assert_eq!(empty[0].column(0).as_primitive::<Int64Type>().value(0), 0);
    assert!(empty[0].column(1).is_null(0));
}

/// model_mean and model_distance used directly: closed forms on a model
/// that does not standardize, so a row's encoding is its values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_mean_is_the_mean_of_encoded_rows() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    for sql in [
        "CREATE MODEL raw OPTIONS (model_type 'kmeans', num_clusters 2, seed 1, standardize false) AS SELECT CAST(v AS DOUBLE) AS x, CAST(v * v AS DOUBLE) AS y FROM generate_series(1, 20) t(v)",
        "CREATE VIEW t AS SELECT * FROM (VALUES (1, 1.0, 10.0), (1, 3.0, 20.0), (2, 5.0, 0.0)) v(g, x, y)",
    ] {
        run(&engine, sql).await;
    }
    let points = |batches: &[RecordBatch], column: usize| -> Vec<Vec<f64>> {
        batches
            .iter()
            .flat_map(|b| {
                let list = b.column(column).as_list::<i32>().clone();
                (0..b.num_rows()).map(move |i| {
                    list.value(i)
                        .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                        .values()
                        .to_vec()
                })
            })
            .collect()
    };
    // Grouped: (1 + 3) / 2, (10 + 20) / 2; and 5, 0.
    let sql = "SELECT g, model_mean('raw', x, y) FROM t GROUP BY g ORDER BY g";
    let df = engine.sql(sql).await.unwrap();
    let planned = df.schema().field(1).name().clone();
    let batches = df.collect().await.unwrap();
    assert_eq!(points(&batches, 1), [vec![2.0, 15.0], vec![5.0, 0.0]]);
    // Binding keeps the column's name.
    assert_eq!(batches[0].schema().field(1).name(), &planned);
    // Over a window: the mean of all three rows on every row.
    let batches = run(&engine, "SELECT model_mean('raw', x, y) OVER () FROM t").await;
    assert_eq!(points(&batches, 0), vec![vec![3.0, 10.0]; 3]);
    // The mean as model_distance's point, as a list or as JSON text:
    // from (3, 10) to (4, 19) is √(1 + 81).
    for sql in [
        "SELECT model_distance('raw', p, 4.0, 19.0) FROM (SELECT model_mean('raw', x, y) AS p FROM t)",
        "SELECT model_distance('raw', '[3, 10]', 4.0, 19.0)",
    ] {
        let batches = run(&engine, sql).await;
        let d = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .value(0);
        assert!((d - 82f64.sqrt()).abs() < 1e-12, "{sql}: {d}");
    }
    let err = error(
        &engine,
        "SELECT model_distance('raw', p, 4.0, 19.0) FROM (SELECT model_mean('raw', x, y) AS p FROM t WHERE g = 3)",
    )
    .await;
    assert!(
        err.contains("model_distance: argument 2 (point) is NULL: the seed relation has no rows"),
        "{err}"
    );
    let err = error(&engine, "SELECT model_mean('raw', x) FROM t").await;
    assert!(
        err.contains("model_mean: model raw@1 has 2 features (x, y), got 1"),
        "{err}"
    );
}
