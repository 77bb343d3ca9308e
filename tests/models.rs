//! Models in SQL: k-means against scikit-learn, persona recovery on the
//! generated lake, the registry's versions, and every error path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use microseg::{Engine, EngineOptions};

use crate::fixtures::{small_lake, small_lake_copy};
use crate::support::{error, open, run};

/// DESCRIBE MODEL as a map.
async fn describe(engine: &Engine, model: &str) -> HashMap<String, String> {
    let batches = run(engine, &format!("DESCRIBE MODEL '{model}'")).await;
    let mut out = HashMap::new();
    for b in &batches {
        let (k, v) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            out.insert(k.value(i).to_string(), v.value(i).to_string());
        }
    }
    out
}

const FEATURES: &str = "SELECT c.customer_id, r.recency_days, r.frequency, r.avg_amount,
       CAST(sum(CASE WHEN o.channel = 'app' THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS app_share,
       CAST(sum(CASE WHEN o.channel = 'store' THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS store_share,
       avg(extract(hour FROM o.order_ts)) AS mean_hour
FROM customers c
JOIN rfm(orders, customer_id, order_ts, amount) r USING (customer_id)
JOIN orders o USING (customer_id)
GROUP BY c.customer_id, r.recency_days, r.frequency, r.avg_amount";

/// What a persona is planted as: basket mix, channel, time of day, order
/// rate and size (sql/README.md, "Planted behaviour").
const PERSONA_FEATURES: &str = "WITH basket AS (
  SELECT customer_id,
    sum(CASE WHEN category = 'beverages' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS bev,
    sum(CASE WHEN category = 'electronics' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS ele,
    sum(CASE WHEN category = 'baby' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS baby,
    sum(CASE WHEN category = 'grocery' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS gro,
    sum(CASE WHEN category = 'fashion' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS fas
  FROM order_items GROUP BY customer_id
), habits AS (
  SELECT customer_id,
    avg(CASE WHEN channel = 'app' THEN 1.0 ELSE 0.0 END) AS app,
    avg(CASE WHEN channel = 'store' THEN 1.0 ELSE 0.0 END) AS store,
    avg(extract(hour FROM order_ts)) AS hour,
    ln(count(*)) AS log_orders,
    ln(avg(amount)) AS log_amount
  FROM orders GROUP BY customer_id
)
SELECT * FROM basket JOIN habits USING (customer_id)";

/// Our inertia must be within 0.5% of scikit-learn's best over the same
/// restarts, on the same standardized rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmeans_inertia_matches_scikit_learn() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &format!("CREATE VIEW features AS {FEATURES}")).await;
    let columns = "recency_days, frequency, avg_amount, app_share, store_share, mean_hour";
    let csv = lake.path().join("features.csv");
    run(
        &engine,
        &format!(
            "COPY (SELECT {columns} FROM features ORDER BY customer_id) TO '{}' STORED AS CSV",
            csv.display()
        ),
    )
    .await;
    // The default seeding at this size is k-means++; k-means|| (the
    // default on large inputs) must reach the same quality.
    for (k, init) in [(4, "auto"), (8, "auto"), (8, "kmeans||")] {
        run(
            &engine,
            &format!(
                "CREATE OR REPLACE MODEL m OPTIONS (model_type 'kmeans', num_clusters {k}, n_init 10, seed 3, init '{init}')
                 AS SELECT {columns} FROM features ORDER BY customer_id"
            ),
        )
        .await;
        let description = describe(&engine, "m").await;
        let expected_init = if init == "auto" { "kmeans++" } else { init };
        assert_eq!(description["option.init"], expected_init);
        let ours: f64 = description
            .get("metric.inertia")
            .expect("inertia reported")
            .parse()
            .unwrap();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/kmeans_reference.py");
        let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
        let output = Command::new(python)
            .arg(&script)
            .arg(&csv)
            .args([k.to_string(), "10".into(), "0".into()])
            .output()
            .expect("run python3 (tests/run.sh sets up a venv with scikit-learn)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let sklearn: f64 = String::from_utf8(output.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        println!("k = {k}, init {init}: microseg inertia {ours:.4}, scikit-learn {sklearn:.4}");
        assert!(
            ours <= sklearn * 1.005,
            "k = {k}: microseg inertia {ours} vs scikit-learn {sklearn}"
        );
    }
}

/// The adjusted Rand index of two labelings (Hubert & Arabie 1985).
fn adjusted_rand_index(a: &[i64], b: &[String]) -> f64 {
    let mut table: HashMap<(i64, &str), f64> = HashMap::new();
    let mut rows: HashMap<i64, f64> = HashMap::new();
    let mut cols: HashMap<&str, f64> = HashMap::new();
    for (x, y) in a.iter().zip(b) {
        *table.entry((*x, y.as_str())).or_default() += 1.0;
        *rows.entry(*x).or_default() += 1.0;
        *cols.entry(y.as_str()).or_default() += 1.0;
    }
    let pairs = |n: f64| n * (n - 1.0) / 2.0;
    let index: f64 = table.values().map(|&n| pairs(n)).sum();
    let sum_a: f64 = rows.values().map(|&n| pairs(n)).sum();
    let sum_b: f64 = cols.values().map(|&n| pairs(n)).sum();
    let expected = sum_a * sum_b / pairs(a.len() as f64);
    let max = (sum_a + sum_b) / 2.0;
    (index - expected) / (max - expected)
}

/// Clusters over behavioural features line up with the planted personas
/// far better than chance (ARI 0). Personas overlap by construction (the
/// occasional, lapsed and new personas share the same mixed basket and
/// differ only in timing; spend distributions overlap), so a perfect match
/// is not expected: measured 0.30 on this lake (seed 7, 400 customers);
/// the floor 0.2 leaves room for other seeds, while features or encoding
/// gone wrong land near 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_recover_personas() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(
        &engine,
        &format!("CREATE VIEW features AS {PERSONA_FEATURES}"),
    )
    .await;
    run(
        &engine,
        "CREATE MODEL personas OPTIONS (model_type 'kmeans', num_clusters 10, n_init 5, seed 1)
         AS SELECT bev, ele, baby, gro, fas, app, store, hour, log_orders, log_amount FROM features",
    )
    .await;
    let truth = small_lake().join("_truth/personas/part-0.parquet");
    let batches = run(
        &engine,
        &format!(
            "SELECT cluster_assign('personas', bev, ele, baby, gro, fas, app, store, hour, log_orders, log_amount) AS c, p.persona
             FROM features f JOIN '{}' p USING (customer_id)",
            truth.display()
        ),
    )
    .await;
    let mut clusters = Vec::new();
    let mut personas = Vec::new();
    for b in &batches {
        let c = b.column(0).as_primitive::<Int64Type>();
        let p = datafusion::arrow::compute::cast(
            b.column(1),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let p = p.as_string::<i32>();
        for i in 0..b.num_rows() {
            clusters.push(c.value(i));
            personas.push(p.value(i).to_string());
        }
    }
    let ari = adjusted_rand_index(&clusters, &personas);
    println!(
        "persona recovery: ARI {ari:.3} over {} customers",
        clusters.len()
    );
    assert!(clusters.len() > 300);
    assert!(ari >= 0.2, "ARI {ari:.3}");
}

#[test]
fn adjusted_rand_index_reference_values() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Identical partitions (up to renaming): 1. Values from
    // sklearn.metrics.adjusted_rand_score([0,0,1,1],[1,1,0,0]) == 1.0 and
    // adjusted_rand_score([0,0,1,1],[0,1,0,1]) == -0.5.
    assert!((adjusted_rand_index(&[0, 0, 1, 1], &s(&["b", "b", "a", "a"])) - 1.0).abs() < 1e-12);
    assert!((adjusted_rand_index(&[0, 0, 1, 1], &s(&["a", "b", "a", "b"])) + 0.5).abs() < 1e-12);
}

/// Versions, addressing an old one, a failed training leaving the last
/// version intact, model_centroids, DROP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_registry_versions_and_errors() {
    let lake = small_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    let engine = open(&location).await;
    run(
        &engine,
        "CREATE VIEW f AS SELECT recency_days, frequency, monetary, segment FROM rfm(orders, customer_id, order_ts, amount)",
    )
    .await;
    let create = |k: u32, replace: bool| {
        format!(
            "CREATE {}MODEL cm OPTIONS (model_type 'kmeans', num_clusters {k}, seed 5) AS SELECT * FROM f",
            if replace { "OR REPLACE " } else { "" }
        )
    };
    run(&engine, &create(3, false)).await;
    let err = error(&engine, &create(3, false)).await;
    assert!(
        err.contains("model cm already exists (CREATE OR REPLACE MODEL adds a new version)"),
        "{err}"
    );
    run(&engine, &create(4, true)).await;
    assert_eq!(describe(&engine, "cm").await["version"], "2");
    assert_eq!(describe(&engine, "cm@1").await["option.num_clusters"], "3");
    // Another engine on the lake sees both versions.
    let other = open(&location).await;
    assert_eq!(describe(&other, "cm").await["versions"], "1, 2");
    // Applying the old and the new version.
    let batches = run(
        &engine,
        "SELECT max(cluster_assign('cm@1', recency_days, frequency, monetary, segment)),
                max(cluster_assign('cm', recency_days, frequency, monetary, segment)) FROM f",
    )
    .await;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(batches[0].column(1).as_primitive::<Int64Type>().value(0), 4);
    // A failing training leaves version 2 the latest.
    let err = error(
        &engine,
        "CREATE OR REPLACE MODEL cm OPTIONS (model_type 'kmeans', num_clusters 4) AS SELECT nope FROM f",
    )
    .await;
    assert!(err.contains("nope"), "{err}");
    assert_eq!(describe(&engine, "cm").await["versions"], "1, 2");
    // Centroids in original units, sizes adding up to the training rows.
    let batches = run(
        &engine,
        "SELECT count(DISTINCT centroid_id), sum(size) / count(DISTINCT feature) FROM model_centroids('cm')",
    )
    .await;
    let rows: i64 = describe(&engine, "cm").await["rows"].parse().unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 4);
    let total = datafusion::arrow::compute::cast(
        batches[0].column(1),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .unwrap();
    assert_eq!(total.as_primitive::<Int64Type>().value(0), rows);
    // The numeric centroids, weighted by size, average to the column mean.
    let batches = run(
        &engine,
        "SELECT (SELECT sum(value * size) / sum(size) FROM model_centroids('cm') WHERE feature = 'frequency') - (SELECT avg(frequency) FROM f)",
    )
    .await;
    let diff = batches[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
        .value(0);
    assert!(diff.abs() < 1e-6, "{diff}");

    // Errors name the problem.
    for (sql, expected) in [
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 3, colour 'red') AS SELECT * FROM f",
            "unknown option colour",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'dbscan', num_clusters 3) AS SELECT * FROM f",
            "unknown model_type 'dbscan'",
        ),
        (
            "CREATE MODEL e OPTIONS (num_clusters 3) AS SELECT * FROM f",
            "OPTIONS needs model_type",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 1) AS SELECT * FROM f",
            "option num_clusters must be a whole number from 2 to 4096, got 1",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 3) AS SELECT x FROM (VALUES (1), (1), (2)) AS t(x)",
            "num_clusters 3 is more than the 2 distinct rows",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT CAST(NULL AS DOUBLE) AS x, 1 AS y",
            "column x is NULL in every row",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT DATE '2020-01-01' AS d",
            "column d is Date32: features must be numeric",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2, batch_size 0) AS SELECT * FROM f",
            "option batch_size must be a whole number from 1 to 1000000000, got 0",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2, batch_size 2.5) AS SELECT * FROM f",
            "option batch_size must be a whole number from 1 to 1000000000, got 2.5",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2, batch_size -5) AS SELECT * FROM f",
            "option batch_size",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2, batch_size 'big') AS SELECT * FROM f",
            "option batch_size must be a number, got 'big'",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2, init 'random') AS SELECT * FROM f",
            "option init must be one of 'auto', 'kmeans++', 'k-means++', 'kmeans||', 'k-means||' (default 'auto'), got 'random'",
        ),
        (
            "CREATE MODEL e OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT * FROM f WHERE false",
            "the training query returns no rows",
        ),
        (
            "SELECT cluster_assign('nope', 1) FROM f",
            "unknown model nope (models: cm)",
        ),
        (
            "SELECT cluster_assign('cm@7', 1) FROM f",
            "unknown model version cm@7",
        ),
        (
            "SELECT cluster_assign('cm', recency_days, frequency) FROM f",
            "model cm@2 has 4 features (recency_days, frequency, monetary, segment), got 2",
        ),
        (
            "SELECT cluster_assign('cm', segment, frequency, monetary, segment) FROM f",
            "argument 2 (segment) is Utf8",
        ),
        (
            "SELECT cluster_assign(segment, 1) FROM f",
            "argument 1 (model) must be a string literal or parameter naming a model",
        ),
        ("DESCRIBE MODEL nope", "unknown model nope"),
        ("DROP MODEL nope", "unknown model nope"),
    ] {
        let err = error(&engine, sql).await;
        assert!(
            err.contains(expected),
            "{sql}\n  expected: {expected}\n  got: {err}"
        );
    }
    // Mini-batch: a batch larger than the rows is clamped (each step then
    // samples as many rows as there are, with replacement); the same rows
    // and seed give the same model. (Its quality against full batch is
    // tested in microseg-udfs, on data where the bound can be argued.)
    let mini_batch = |version: &str| {
        format!(
            "CREATE {version}MODEL mb OPTIONS (model_type 'kmeans', num_clusters 4, seed 5, batch_size 100000)
             AS SELECT recency_days, frequency, monetary, segment FROM f ORDER BY recency_days, frequency, monetary, segment"
        )
    };
    run(&engine, &mini_batch("")).await;
    run(&engine, &mini_batch("OR REPLACE ")).await;
    let (first, second) = (
        describe(&engine, "mb@1").await,
        describe(&engine, "mb@2").await,
    );
    assert_eq!(first["option.batch_size"], "100000");
    assert_eq!(first["metric.inertia"], second["metric.inertia"]);
    assert_eq!(first["cluster_sizes"], second["cluster_sizes"]);
    let total: u64 = first["cluster_sizes"]
        .split(", ")
        .map(|s| s.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total.to_string(), first["rows"]);
    run(&engine, "DROP MODEL mb").await;
    run(&engine, "DROP MODEL cm").await;
    assert!(
        error(&other, "DESCRIBE MODEL cm")
            .await
            .contains("unknown model cm")
    );
    assert!(
        !lake
            .path()
            .join("_microseg/models/cm/v1/model.json")
            .exists()
    );
}

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

fn rel_close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1e-9)
}

/// clv_summary, BG/NBD, Gamma-Gamma and the functions applying them,
/// against lifetimes on the same completed orders of the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifetime_value_matches_lifetimes() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(
        &engine,
        "CREATE VIEW tx AS SELECT customer_id, order_ts AS ts, CAST(amount AS DOUBLE) AS amount FROM orders WHERE status = 'completed'",
    )
    .await;
    let csv = lake.path().join("tx.csv");
    run(
        &engine,
        &format!(
            "COPY (SELECT * FROM tx ORDER BY customer_id, ts) TO '{}' STORED AS CSV",
            csv.display()
        ),
    )
    .await;
    let as_of = "2026-10-31";
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/clv_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .arg(&csv)
        .arg(as_of)
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with lifetimes)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    run(
        &engine,
        &format!("CREATE VIEW summary AS SELECT * FROM clv_summary(tx, customer_id, ts, amount, DATE '{as_of}')"),
    )
    .await;
    run(
        &engine,
        "CREATE MODEL bg OPTIONS (model_type 'bgnbd') AS SELECT frequency, recency, T FROM summary",
    )
    .await;
    run(
        &engine,
        "CREATE MODEL gg OPTIONS (model_type 'gamma_gamma') AS SELECT frequency, monetary_value FROM summary WHERE frequency > 0 AND monetary_value > 0",
    )
    .await;
    // Parameters agree to 1e-3 relative.
    for (model, key) in [("bg", "bgnbd"), ("gg", "gamma_gamma")] {
        let ours = describe(&engine, model).await;
        assert_eq!(ours["converged"], "true", "{model}: {ours:?}");
        let gradient: f64 = ours["metric.gradient_norm"].parse().unwrap();
        let evaluations: f64 = ours["metric.evaluations"].parse().unwrap();
        assert!(
            gradient <= 1e-6 && (1.0..1000.0).contains(&evaluations),
            "{model}: {ours:?}"
        );
        for (name, theirs) in reference[key].as_object().unwrap() {
            let value: f64 = ours[&format!("parameter.{name}")].parse().unwrap();
            let theirs = theirs.as_f64().unwrap();
            println!("{model}.{name}: microseg {value:.6}, lifetimes {theirs:.6}");
            assert!(
                rel_close(value, theirs, 1e-3),
                "{model}.{name}: {value} vs {theirs}"
            );
        }
    }
    // Every customer: the summary exactly, the predictions to 1e-3.
    let batches = run(
        &engine,
        "SELECT customer_id, frequency, recency, t, monetary_value,
                p_alive('bg', frequency, recency, T),
                expected_purchases('bg', 30, frequency, recency, T),
                expected_avg_spend('gg', frequency, monetary_value),
                clv('bg', 'gg', frequency, recency, T, monetary_value, 12, 0.01)
         FROM summary ORDER BY customer_id",
    )
    .await;
    let customers = reference["customers"].as_object().unwrap();
    let mut checked = 0;
    for b in &batches {
        let id = b.column(0).as_primitive::<Int64Type>();
        let f = |i: usize| {
            b.column(i)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .clone()
        };
        let cols: Vec<_> = (1..9).map(f).collect();
        for row in 0..b.num_rows() {
            let theirs = &customers[&id.value(row).to_string()];
            let want = [
                "frequency",
                "recency",
                "T",
                "monetary_value",
                "p_alive",
                "expected_30",
                "spend",
                "clv",
            ];
            for (i, key) in want.iter().enumerate() {
                let ours = cols[i].value(row);
                let theirs = theirs[*key].as_f64().unwrap();
                let tolerance = if i < 4 { 1e-9 } else { 1e-3 };
                assert!(
                    rel_close(ours, theirs, tolerance) || (ours - theirs).abs() < 1e-9,
                    "customer {}: {key} microseg {ours} vs lifetimes {theirs}",
                    id.value(row)
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, customers.len(), "customer counts differ");
    assert!(checked > 300);
}

/// Parameter recovery: customers simulated from known BG/NBD and
/// Gamma-Gamma parameters and fitted back. With 10,000 customers the
/// sampling spread of r and alpha is wide (lifetimes' own generator and
/// fitter land 10–25% off at 20,000), so the bounds are 30% for r and alpha
/// and 20% for the rest; a wrong likelihood or simulation lands far outside
/// (placing the drop-out before the repeat purchase gave r −38%, b +74%).
#[test]
fn lifetime_value_parameters_are_recovered_from_simulated_customers() {
    use microseg_udfs::model::clv::{fit_bgnbd, fit_gamma_gamma};
    use rand::{Rng, SeedableRng};
    use rand_distr::{Beta, Distribution, Exp, Gamma};

    let (r, alpha, a, b) = (0.8, 8.0, 0.6, 3.0);
    let (p, q, v) = (6.0, 4.0, 20.0);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let mut purchases = Vec::new();
    let mut spends = Vec::new();
    for _ in 0..10_000 {
        let lambda = Gamma::new(r, 1.0 / alpha).unwrap().sample(&mut rng);
        let drop = Beta::new(a, b).unwrap().sample(&mut rng);
        let t_end: f64 = rng.random_range(20.0..80.0);
        // After the first purchase at 0: repeat purchases at rate λ; after
        // each repeat purchase the customer drops out with probability
        // `drop` (the model's (1 − p)^x survives x purchases).
        let (mut t, mut x, mut last) = (0.0, 0.0, 0.0);
        loop {
            t += Exp::new(lambda).unwrap().sample(&mut rng);
            if t > t_end {
                break;
            }
            x += 1.0;
            last = t;
            if rng.random::<f64>() < drop {
                break;
            }
        }
        purchases.push((x, last, t_end, 1.0));
        if x > 0.0 {
            let nu = Gamma::new(q, 1.0 / v).unwrap().sample(&mut rng);
            let total: f64 = (0..x as usize)
                .map(|_| Gamma::new(p, 1.0 / nu).unwrap().sample(&mut rng))
                .sum();
            spends.push((x, total / x, 1.0));
        }
    }
    let bg = fit_bgnbd(&purchases, 0.0);
    let gg = fit_gamma_gamma(&spends, 0.0);
    println!(
        "BG/NBD r, alpha, a, b = {:?}; Gamma-Gamma p, q, v = {:?}",
        bg.params, gg.params
    );
    for (got, want, name) in bg
        .params
        .iter()
        .zip([r, alpha, a, b])
        .zip(["r", "alpha", "a", "b"])
        .map(|((g, w), n)| (g, w, n))
    {
        assert!((got - want).abs() <= 0.15 * want, "{name}: {got} vs {want}");
    }
    for (got, want, name) in gg
        .params
        .iter()
        .zip([p, q, v])
        .zip(["p", "q", "v"])
        .map(|((g, w), n)| (g, w, n))
    {
        assert!((got - want).abs() <= 0.15 * want, "{name}: {got} vs {want}");
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

/// cluster_assign reads all-numeric features without NULLs straight from
/// the columns, and encodes everything else first: both must give the same
/// cluster and the same distance. Every other row's recency is NULL in the
/// second call, so each of its batches takes the encoding path; the other
/// rows are compared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_assign_reads_columns_as_encoding_would() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &format!("CREATE VIEW features AS {FEATURES}")).await;
    let columns = "frequency, avg_amount, app_share, store_share, mean_hour";
    run(
        &engine,
        &format!("CREATE MODEL paths OPTIONS (model_type 'kmeans', num_clusters 12, seed 9) AS SELECT recency_days, {columns} FROM features"),
    )
    .await;
    let holed = "CASE WHEN customer_id % 2 = 0 THEN NULL ELSE recency_days END";
    let batches = run(
        &engine,
        &format!(
            "SELECT count(*),
                    sum(CASE WHEN direct_cluster <> encoded_cluster THEN 1 ELSE 0 END),
                    sum(CASE WHEN direct_distance <> encoded_distance THEN 1 ELSE 0 END),
                    count(DISTINCT direct_cluster)
             FROM (SELECT customer_id,
                          cluster_assign('paths', recency_days, {columns}) AS direct_cluster,
                          cluster_assign('paths', {holed}, {columns}) AS encoded_cluster,
                          cluster_distance('paths', recency_days, {columns}) AS direct_distance,
                          cluster_distance('paths', {holed}, {columns}) AS encoded_distance
                   FROM features)
             WHERE customer_id % 2 = 1"
        ),
    )
    .await;
    let value = |i: usize| batches[0].column(i).as_primitive::<Int64Type>().value(0);
    assert!(value(0) > 100, "only {} rows compared", value(0));
    assert_eq!(
        (value(1), value(2)),
        (0, 0),
        "rows whose cluster or distance differ"
    );
    assert!(value(3) > 6, "only {} clusters used", value(3));
}

/// scikit-learn's best inertia over `n_init` k-means++ starts on the rows of
/// `csv`, z-scored as CREATE MODEL does (tests/python/kmeans_reference.py).
fn scikit_learn_inertia(csv: &std::path::Path, k: usize, n_init: u32) -> f64 {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/kmeans_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .arg(csv)
        .args([k.to_string(), n_init.to_string(), "0".into()])
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with scikit-learn)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// With default options (only num_clusters given, so seed 42 and
/// n_init 'auto', 100 runs here), our inertia is within 0.5% of scikit-learn's best of 10
/// k-means++ starts on the same standardized rows, for several k and, to
/// show it does not hang on one lucky seed, several seeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmeans_defaults_match_scikit_learn() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &format!("CREATE VIEW features AS {FEATURES}")).await;
    let columns = "recency_days, frequency, avg_amount, app_share, store_share, mean_hour";
    let csv = lake.path().join("features.csv");
    run(
        &engine,
        &format!(
            "COPY (SELECT {columns} FROM features ORDER BY customer_id) TO '{}' STORED AS CSV",
            csv.display()
        ),
    )
    .await;
    let mut worst: f64 = 0.0;
    for k in [4, 8, 12] {
        let sklearn = scikit_learn_inertia(&csv, k, 10);
        for seed in ["", ", seed 1", ", seed 2", ", seed 3"] {
            run(
                &engine,
                &format!(
                    "CREATE OR REPLACE MODEL d OPTIONS (model_type 'kmeans', num_clusters {k}{seed})
                     AS SELECT {columns} FROM features"
                ),
            )
            .await;
            let description = describe(&engine, "d").await;
            assert_eq!(description["option.n_init"], "100", "400 rows × 6 × {k}");
            let ours: f64 = description["metric.inertia"].parse().unwrap();
            let ratio = ours / sklearn;
            println!(
                "k = {k}{seed}: microseg {ours:.4}, scikit-learn {sklearn:.4}, ratio {ratio:.5}"
            );
            worst = worst.max(ratio);
            assert!(
                ratio <= 1.005,
                "k = {k}{seed}: microseg inertia {ours} vs scikit-learn {sklearn}"
            );
        }
    }
    println!("worst ratio {worst:.5}");
    // An explicit n_init is kept, and 'auto' is accepted by name.
    run(
        &engine,
        &format!("CREATE OR REPLACE MODEL d OPTIONS (model_type 'kmeans', num_clusters 4, n_init 2) AS SELECT {columns} FROM features"),
    )
    .await;
    assert_eq!(describe(&engine, "d").await["option.n_init"], "2");
    run(
        &engine,
        &format!("CREATE OR REPLACE MODEL d OPTIONS (model_type 'kmeans', num_clusters 4, n_init 'auto') AS SELECT {columns} FROM features"),
    )
    .await;
    assert_eq!(describe(&engine, "d").await["option.n_init"], "100");
    let err = error(
        &engine,
        &format!("CREATE OR REPLACE MODEL d OPTIONS (model_type 'kmeans', num_clusters 4, n_init 'many') AS SELECT {columns} FROM features"),
    )
    .await;
    assert!(
        err.contains("option n_init must be 'auto' or a whole number from 1 to 100, got 'many'"),
        "{err}"
    );
}

/// A model's centroids, sizes and inertia as text (shortest round-trip
/// float formatting, so equal text is equal bits).
async fn model_fingerprint(engine: &Engine, model: &str) -> String {
    let batches = run(
        engine,
        &format!("SELECT centroid_id, feature, value, size FROM model_centroids('{model}') ORDER BY centroid_id, feature"),
    )
    .await;
    let description = describe(engine, model).await;
    format!(
        "{}\nsizes {}\ninertia {}",
        datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap(),
        description["cluster_sizes"],
        description["metric.inertia"]
    )
}

/// The same query trained with its rows in different orders (ORDER BY
/// random(), and 1, 3 or the default number of partitions) gives the same
/// model: centroids, ids, sizes and inertia.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmeans_training_is_independent_of_row_order() {
    let lake = small_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    let query = "SELECT recency_days, frequency, monetary, segment FROM rfm(orders, customer_id, order_ts, amount) ORDER BY random()";
    let mut prints = Vec::new();
    for (i, partitions) in [None, None, Some(1), Some(3)].into_iter().enumerate() {
        let engine = Engine::open(
            &location,
            EngineOptions {
                target_partitions: partitions,
                ..EngineOptions::default()
            },
        )
        .await
        .unwrap();
        run(
            &engine,
            &format!("CREATE MODEL o{i} OPTIONS (model_type 'kmeans', num_clusters 8, seed 42) AS {query}"),
        )
        .await;
        prints.push(model_fingerprint(&engine, &format!("o{i}")).await);
    }
    assert!(prints[0].contains("sizes "), "{}", prints[0]);
    for (i, print) in prints.iter().enumerate().skip(1) {
        assert_eq!(print, &prints[0], "model o{i} differs from o0");
    }
}

/// NaN is not NULL: CREATE MODEL refuses NaN and infinite training values
/// naming the column, and cluster_assign / cluster_distance refuse them
/// naming the feature, while NULL still gets the mean's cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmeans_refuses_nan_features() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let rows = |bad: &str| {
        format!(
            "SELECT CAST(x AS DOUBLE) AS x, CAST(y AS DOUBLE) AS y FROM (VALUES ('1', '2'), ('{bad}', '3'), ('5', '1'), ('7', '8')) AS t(x, y)"
        )
    };
    for (bad, what) in [("NaN", "NaN"), ("inf", "infinite"), ("-inf", "infinite")] {
        let err = error(
            &engine,
            &format!(
                "CREATE MODEL n OPTIONS (model_type 'kmeans', num_clusters 2) AS {}",
                rows(bad)
            ),
        )
        .await;
        assert!(
            err.contains(&format!("CREATE MODEL n: column x has {what} values")),
            "{bad}: {err}"
        );
    }
    assert!(describe_missing(&engine, "n").await);
    run(
        &engine,
        &format!(
            "CREATE MODEL n OPTIONS (model_type 'kmeans', num_clusters 2) AS {}",
            rows("3")
        ),
    )
    .await;
    for function in ["cluster_assign", "cluster_distance"] {
        let err = error(
            &engine,
            &format!(
                "SELECT {function}('n', a, b) FROM (VALUES (1.0, 2.0), (CAST('NaN' AS DOUBLE), 1.0)) AS t(a, b)"
            ),
        )
        .await;
        assert!(
            err.contains(&format!("{function}: feature x of model n@1 is NaN")),
            "{err}"
        );
        let err = error(
            &engine,
            &format!("SELECT {function}('n', 1.0, CAST('-inf' AS DOUBLE))"),
        )
        .await;
        assert!(
            err.contains(&format!("{function}: feature y of model n@1 is -inf")),
            "{err}"
        );
    }
    // The best 2-partition of the z-scored rows is {(1, 2), (3, 3), (5, 1)}
    // against {(7, 8)} (within-cluster sum 1.87, against 4.24 for the
    // split by x); NULLs are the training means, (4, 3.5), z = (0, 0),
    // about 0.7 from the first cluster's centroid and 2.1 from (7, 8).
    let batches = run(
        &engine,
        "SELECT cluster_assign('n', CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)), cluster_assign('n', 3.0, 2.0), cluster_assign('n', 7.0, 8.0)",
    )
    .await;
    let id = |i: usize| batches[0].column(i).as_primitive::<Int64Type>().value(0);
    assert_eq!(id(0), id(1));
    assert_ne!(id(0), id(2));
}

/// Whether `model` is unknown to DESCRIBE MODEL (a refused training stored nothing).
async fn describe_missing(engine: &Engine, model: &str) -> bool {
    error(engine, &format!("DESCRIBE MODEL '{model}'"))
        .await
        .contains("unknown model")
}

/// Centroids of `model` (original units), one Vec per cluster id in order.
async fn centroids_of(engine: &Engine, model: &str) -> Vec<Vec<f64>> {
    let batches = run(
        engine,
        &format!("SELECT CAST(centroid_id AS BIGINT) AS id, value FROM model_centroids('{model}') ORDER BY id, feature"),
    )
    .await;
    let mut out: Vec<Vec<f64>> = Vec::new();
    for b in &batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let values = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for i in 0..b.num_rows() {
            let id = ids.value(i) as usize;
            if out.len() < id {
                out.push(Vec::new());
            }
            out[id - 1].push(values.value(i));
        }
    }
    out
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Every permutation of 0..n.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// CREATE OR REPLACE MODEL keeps cluster ids: on blobs that move so that
/// their coordinate order (the fresh numbering) changes, each cluster of
/// version 2 has the id of version 1's nearest centroid, and the identity
/// is the cheapest of all 24 id permutations (checked by enumeration, in
/// raw units with standardize false, where that is exactly the matching's
/// cost; with standardization the matching runs on rescaled centroids).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrained_versions_keep_cluster_ids() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let blobs = |centres: &str| {
        format!(
            "SELECT c.x + (s.value % 10 - 4.5) * 0.02 AS x, c.y + (s.value / 10 % 10 - 4.5) * 0.02 AS y
             FROM (VALUES {centres}) AS c(x, y) CROSS JOIN generate_series(0, 99) AS s"
        )
    };
    let before = blobs("(0.0, 10.0), (1.0, 0.0), (2.0, 5.0), (8.0, 8.0)");
    // Blob (0, 10) moves past two others in x.
    let after = blobs("(2.6, 10.3), (1.2, 0.1), (2.2, 5.0), (7.5, 8.2)");
    for standardize in [false, true] {
        let model = format!("v{standardize}");
        let create = |replace: &str, seed: u32, rows: &str| {
            format!(
                "CREATE {replace}MODEL {model} OPTIONS (model_type 'kmeans', num_clusters 4, seed {seed}, standardize {standardize}) AS {rows}"
            )
        };
        run(&engine, &create("", 1, &before)).await;
        run(&engine, &create("OR REPLACE ", 7, &after)).await;
        let old = centroids_of(&engine, &format!("{model}@1")).await;
        let new = centroids_of(&engine, &format!("{model}@2")).await;
        assert_eq!((old.len(), new.len()), (4, 4));
        // A fresh numbering orders by x: (1.2, 0.1) would be cluster 1.
        let mut by_x: Vec<usize> = (0..4).collect();
        by_x.sort_by(|&a, &b| new[a][0].total_cmp(&new[b][0]));
        assert_ne!(
            by_x,
            [0, 1, 2, 3],
            "the data must reorder a fresh numbering"
        );
        for (j, c) in new.iter().enumerate() {
            let nearest = (0..4)
                .min_by(|&a, &b| {
                    squared_distance(c, &old[a]).total_cmp(&squared_distance(c, &old[b]))
                })
                .unwrap();
            assert_eq!(nearest, j, "standardize {standardize}: {new:?} vs {old:?}");
        }
        if !standardize {
            let cost = |p: &[usize]| -> f64 {
                p.iter()
                    .enumerate()
                    .map(|(j, &o)| squared_distance(&new[j], &old[o]))
                    .sum()
            };
            let best = permutations(4)
                .iter()
                .map(|p| cost(p))
                .fold(f64::INFINITY, f64::min);
            assert!(
                cost(&[0, 1, 2, 3]) <= best * (1.0 + 1e-12),
                "identity is not optimal"
            );
        }
    }
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
