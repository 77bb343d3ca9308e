//! k-means: inertia and defaults against scikit-learn, persona recovery,
//! determinism, NaN, the two assignment paths, cluster ids across versions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use microseg::{Engine, EngineOptions};

use super::{FEATURES, PERSONA_FEATURES, describe, export_features};
use crate::fixtures::{small_lake, small_lake_copy};
use crate::support::{error, open, run};

/// Our inertia must be within 0.5% of scikit-learn's best over the same
/// restarts, on the same standardized rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmeans_inertia_matches_scikit_learn() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let columns = "recency_days, frequency, avg_amount, app_share, store_share, mean_hour";
    let csv = lake.path().join("features.csv");
    export_features(&engine, columns, &csv).await;
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
    let columns = "recency_days, frequency, avg_amount, app_share, store_share, mean_hour";
    let csv = lake.path().join("features.csv");
    export_features(&engine, columns, &csv).await;
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
