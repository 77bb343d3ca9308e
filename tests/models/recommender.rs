//! Recommenders: hand-made baskets checked against the definitions,
//! also_bought against a DuckDB self-join, the planted craft-beer taste on
//! the generated lake, filter pushdown, and the error paths.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::arrow::util::pretty::pretty_format_batches;
use microseg::Engine;

use super::describe;
use crate::fixtures::{medium_lake_copy, small_lake_copy};
use crate::support::{error, open, run};

/// Four customers: 1 {a, b}, 2 {a, b, c}, 3 {a, c}, 4 {d} (4 in segment
/// 'y', the others 'x'); one row per purchase.
const BASKETS: &str = "SELECT * FROM (VALUES
    (1, 'a', TIMESTAMP '2026-01-01 10:00:00', 'x'), (1, 'b', TIMESTAMP '2026-01-02 10:00:00', 'x'),
    (2, 'a', TIMESTAMP '2026-01-03 10:00:00', 'x'), (2, 'b', TIMESTAMP '2026-01-04 10:00:00', 'x'),
    (2, 'c', TIMESTAMP '2026-01-05 10:00:00', 'x'), (3, 'a', TIMESTAMP '2026-01-06 10:00:00', 'x'),
    (3, 'c', TIMESTAMP '2026-01-07 10:00:00', 'x'), (4, 'd', TIMESTAMP '2026-01-08 10:00:00', 'y')
  ) AS t(customer_id, item, ts, segment)";

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

/// A column of every batch as text.
fn strings(batches: &[RecordBatch], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

fn floats(batches: &[RecordBatch], name: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for b in batches {
        let c = cast(b.column_by_name(name).unwrap(), &DataType::Float64).unwrap();
        out.extend(c.as_primitive::<Float64Type>().iter().map(|v| v.unwrap()));
    }
    out
}

async fn train(engine: &Engine, name: &str, options: &str, query: &str) {
    run(
        engine,
        &format!(
            "CREATE OR REPLACE MODEL {name} OPTIONS (model_type 'recommender'{options}) AS {query}"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_follow_their_definitions() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    train(
        &engine,
        "co",
        ", method 'cooccurrence', exclude_bought true, min_support 1",
        &format!("SELECT customer_id, item, ts FROM ({BASKETS})"),
    )
    .await;
    // Customer 1 (a, b): c scores cos(a,c) + cos(b,c) = 2/√6 + 1/2, most
    // of it through a.
    let rows = run(
        &engine,
        "SELECT * FROM recommend('co', 3) WHERE customer_id = 1",
    )
    .await;
    assert_eq!(strings(&rows, "item"), ["c"], "{}", text(&rows));
    assert_eq!(strings(&rows, "reason"), ["also_bought:a"]);
    assert_eq!(
        rows[0]
            .schema()
            .field_with_name("customer_id")
            .unwrap()
            .data_type(),
        &DataType::Int64
    );
    assert!(rows[0].schema().field_with_name("segment").is_err());
    // Customer 4's only item is bought by no one else: nothing to say.
    let rows = run(
        &engine,
        "SELECT * FROM recommend('co', 3) WHERE customer_id = 4",
    )
    .await;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    // Every customer but 2, who already has every item bought with theirs.
    let rows = run(
        &engine,
        "SELECT customer_id, rank FROM recommend('co', 3) ORDER BY customer_id, rank",
    )
    .await;
    assert_eq!(strings(&rows, "customer_id"), ["1", "3"], "{}", text(&rows));

    // also_bought: a is bought by 3 of 4 customers, b by 2, both by 2.
    let rows = run(&engine, "SELECT * FROM also_bought('co', 'a', 5)").await;
    assert_eq!(strings(&rows, "also_bought"), ["b", "c"], "{}", text(&rows));
    let (p_a, p_b, p_ab) = (0.75, 0.5, 0.5);
    assert_eq!(floats(&rows, "customers_both"), [2.0, 2.0]);
    assert!((floats(&rows, "support")[0] - p_ab).abs() < 1e-12);
    assert!((floats(&rows, "confidence")[0] - p_ab / p_a).abs() < 1e-12);
    assert!((floats(&rows, "lift")[0] - p_ab / (p_a * p_b)).abs() < 1e-12);
    let zhang = (p_ab - p_a * p_b) / f64::max(p_ab * (1.0 - p_a), p_a * (p_b - p_ab));
    assert!((floats(&rows, "zhang")[0] - zhang).abs() < 1e-12);
    // An unknown item: no rows, not an error.
    let rows = run(&engine, "SELECT * FROM also_bought('co', 'zzz', 5)").await;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 0);

    // Segment popularity, text customers, the segment column.
    train(
        &engine,
        "seg",
        ", method 'segment_popular', min_support 1",
        &format!(
            "SELECT CAST(customer_id AS VARCHAR) AS customer_id, item, ts, segment FROM ({BASKETS})"
        ),
    )
    .await;
    let rows = run(
        &engine,
        "SELECT * FROM recommend('seg', 1) WHERE segment = 'y'",
    )
    .await;
    assert_eq!(strings(&rows, "customer_id"), ["4"]);
    assert_eq!(strings(&rows, "item"), ["d"]);
    assert_eq!(strings(&rows, "reason"), ["popular_in:y"]);
    assert_eq!(
        rows[0]
            .schema()
            .field_with_name("customer_id")
            .unwrap()
            .data_type(),
        &DataType::Utf8
    );
    // Unknown customers get the segment's favourites or everyone's, and
    // the reason says so.
    let rows = run(&engine, "SELECT * FROM recommend_for('seg', '99', 1, 'y')").await;
    assert_eq!(strings(&rows, "item"), ["d"]);
    assert_eq!(strings(&rows, "reason"), ["unknown_customer:popular_in:y"]);
    let rows = run(&engine, "SELECT * FROM recommend_for('seg', '99', 1)").await;
    assert_eq!(strings(&rows, "item"), ["a"]);
    assert_eq!(strings(&rows, "reason"), ["unknown_customer:popular"]);
    // A known customer through recommend_for gets the same as from recommend.
    let one = run(
        &engine,
        "SELECT item, score, reason FROM recommend_for('seg', '2', 3)",
    )
    .await;
    let all = run(
        &engine,
        "SELECT item, score, reason FROM recommend('seg', 3) WHERE customer_id = '2' ORDER BY rank",
    )
    .await;
    assert_eq!(text(&one), text(&all));

    // The WHERE reaches the scan.
    let plan = run(
        &engine,
        "EXPLAIN SELECT * FROM recommend('seg', 3) WHERE customer_id IN ('1', '2') AND score > 0",
    )
    .await;
    let plan = text(&plan);
    assert!(
        plan.contains("partial_filters=[recommend().customer_id = Utf8(\"1\") OR"),
        "{plan}"
    );
    // Scoring only the customers asked for gives what filtering all does.
    let pushed = run(&engine, "SELECT * FROM recommend('seg', 3) WHERE customer_id IN ('1', '3') ORDER BY customer_id, rank").await;
    let all = run(&engine, "SELECT * FROM (SELECT * FROM recommend('seg', 3) ORDER BY customer_id, rank) WHERE customer_id IN ('1', '3')").await;
    assert_eq!(text(&pushed), text(&all));
    let description = describe(&engine, "seg").await;
    assert_eq!(description["option.method"], "segment_popular");
    assert_eq!(description["metric.customers"], "4.000000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let create = |options: &str, query: &str| {
        format!("CREATE MODEL bad OPTIONS (model_type 'recommender'{options}) AS {query}")
    };
    let e = error(
        &engine,
        &create("", "SELECT customer_id, sku AS item FROM order_items"),
    )
    .await;
    assert!(e.contains("no column ts"), "{e}");
    let e = error(
        &engine,
        &create(
            "",
            "SELECT customer_id, sku, order_id AS ts FROM order_items",
        ),
    )
    .await;
    assert!(e.contains("column sku"), "{e}");
    let e = error(
        &engine,
        &create(
            "",
            &format!("SELECT customer_id, item, ts FROM ({BASKETS}) WHERE customer_id > 10"),
        ),
    )
    .await;
    assert!(e.contains("returns no rows"), "{e}");
    let e = error(
        &engine,
        &create(
            "",
            "SELECT customer_id, sku AS item, order_id AS ts FROM order_items",
        ),
    )
    .await;
    assert!(e.contains("column ts is Int64"), "{e}");
    let e = error(&engine, &create(", method 'magic'", "SELECT 1 AS x")).await;
    assert!(e.contains("option method must be one of"), "{e}");
    assert!(e.contains("'als'"), "{e}");
    let e = error(
        &engine,
        &create(", method 'als', factors 0", "SELECT 1 AS x"),
    )
    .await;
    assert!(
        e.contains("CREATE MODEL bad")
            && e.contains("option factors must be a whole number from 1 to 1024"),
        "{e}"
    );
    let e = error(
        &engine,
        &create(", method 'als', regularization -1", "SELECT 1 AS x"),
    )
    .await;
    assert!(
        e.contains("option regularization must be a number ≥ 0"),
        "{e}"
    );
    let e = error(&engine, &create(", factors 8", "SELECT 1 AS x")).await;
    assert!(e.contains("option factors is for method 'als'"), "{e}");
    train(
        &engine,
        "r",
        "",
        &format!("SELECT customer_id, item, ts FROM ({BASKETS})"),
    )
    .await;
    for (sql, needle) in [
        (
            "SELECT * FROM recommend('r', 0)",
            "argument 2 (k) must be a whole number from 1",
        ),
        ("SELECT * FROM recommend('r', -3)", "argument 2 (k)"),
        ("SELECT * FROM recommend_for('r', 1, 0)", "argument 3 (k)"),
        ("SELECT * FROM also_bought('r', 'a', 0)", "argument 3 (k)"),
        (
            "SELECT * FROM recommend('nope', 3)",
            "there is no model nope",
        ),
        ("SELECT * FROM recommend('r')", "recommend(model, k)"),
    ] {
        let e = error(&engine, sql).await;
        assert!(e.contains(needle), "{sql}: {e}");
    }
    run(
        &engine,
        "CREATE MODEL km OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT * FROM (VALUES (1.0), (2.0), (5.0)) t(x)",
    )
    .await;
    let e = error(&engine, "SELECT * FROM recommend('km', 3)").await;
    assert!(e.contains("not a recommender"), "{e}");
}

/// A NULL segment is no segment: those customers get everyone's
/// favourites, and their segment column is NULL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_segments_use_the_whole_base() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    train(
        &engine,
        "n",
        ", method 'segment_popular', min_support 1",
        &format!(
            "SELECT customer_id, item, ts, CASE WHEN customer_id = 3 THEN NULL ELSE segment END AS segment FROM ({BASKETS})"
        ),
    )
    .await;
    let rows = run(
        &engine,
        "SELECT * FROM recommend('n', 1) WHERE customer_id = 3",
    )
    .await;
    assert_eq!(strings(&rows, "reason"), ["popular"], "{}", text(&rows));
    let segment = rows[0].column_by_name("segment").unwrap();
    assert!(segment.is_null(0));
}

fn python(args: &[&str]) -> serde_json::Value {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/recommend_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with duckdb)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

const ORDER_ITEMS: &str = "SELECT oi.customer_id, oi.sku AS item, o.order_ts AS ts
    FROM order_items oi JOIN orders o ON o.order_id = oi.order_id";

/// also_bought's statistics equal a DuckDB self-join's on the lake's lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn also_bought_matches_duckdb() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    train(&engine, "lines", "", ORDER_ITEMS).await;
    let csv = lake.path().join("lines.csv");
    run(
        &engine,
        &format!("COPY ({ORDER_ITEMS}) TO '{}' STORED AS CSV", csv.display()),
    )
    .await;
    let top = run(
        &engine,
        "SELECT sku FROM order_items GROUP BY sku ORDER BY count(DISTINCT customer_id) DESC, sku LIMIT 1",
    )
    .await;
    let sku = strings(&top, "sku")[0].clone();
    let ours = run(
        &engine,
        &format!("SELECT * FROM also_bought('lines', '{sku}', 10000)"),
    )
    .await;
    let reference = python(&["also_bought", &csv.to_string_lossy(), &sku]);
    let reference = reference.as_array().unwrap();
    assert!(reference.len() > 20, "{sku} has few partners");
    assert_eq!(strings(&ours, "also_bought").len(), reference.len());
    for (column, key) in [
        ("customers_both", "customers_both"),
        ("support", "support"),
        ("confidence", "confidence"),
        ("lift", "lift"),
        ("zhang", "zhang"),
    ] {
        for (i, (a, b)) in floats(&ours, column).iter().zip(reference).enumerate() {
            let b = b[key].as_f64().unwrap();
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "row {i} {column}: {a} vs {b}"
            );
        }
    }
    assert_eq!(
        strings(&ours, "also_bought"),
        reference
            .iter()
            .map(|r| r["also_bought"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );
}

/// The craft-beer persona's recommendations are craft beer, with the
/// blend and with implicit ALS (reason `als`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn craft_beer_persona_gets_craft_beer() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    for (model, options) in [
        ("taste", ", exclude_bought true, half_life_days 180"),
        (
            "taste_als",
            ", method 'als', exclude_bought true, half_life_days 180, factors 32, regularization 0.1, alpha 2, iterations 10",
        ),
    ] {
        train(&engine, model, options, ORDER_ITEMS).await;
        let truth = lake.path().join("_truth/personas/part-0.parquet");
        let rows = run(
            &engine,
            &format!("SELECT t.persona, avg(CASE WHEN p.subcategory = 'craft_beer' THEN 1.0 ELSE 0.0 END) AS craft_share,
                    min(r.reason) AS first_reason, max(r.reason) AS last_reason
             FROM recommend('{model}', 5) r
             JOIN products p ON p.sku = r.item
             JOIN '{}' t ON t.customer_id = r.customer_id
             GROUP BY t.persona ORDER BY t.persona",
                truth.display()
            ),
        )
        .await;
        println!("{model}:\n{}", text(&rows));
        let shares: HashMap<String, f64> = strings(&rows, "persona")
            .into_iter()
            .zip(floats(&rows, "craft_share"))
            .collect();
        let craft = shares["craft_beer_aficionado"];
        let others = shares
            .iter()
            .filter(|(p, _)| p.as_str() != "craft_beer_aficionado")
            .map(|(_, s)| *s)
            .fold(0.0, f64::max);
        // Half of the persona's basket lines are craft beer: recommendations
        // of new SKUs should be at least that craft-heavy, and far more than
        // any other persona's.
        assert!(craft >= 0.5, "{model}: craft share {craft}");
        assert!(
            craft >= 3.0 * others,
            "{model}: craft {craft} vs others {others}"
        );
        if model == "taste_als" {
            for reason in strings(&rows, "first_reason")
                .into_iter()
                .chain(strings(&rows, "last_reason"))
            {
                assert_eq!(reason, "als");
            }
            stored_factors_are_read(&engine, lake.path()).await;
        }
    }
}

/// The drinks club's members each have a planted taste (`_truth/tastes`):
/// recommendations of drinks they have not rated follow it. 80% of a
/// member's ratings are of their taste's subcategory; the rest are spread
/// over the other three, so co-occurrence among members of one taste points
/// at that subcategory. A precision of 0.6 (three of five new drinks) is
/// far above what a taste-blind list gives: the share of a subcategory's
/// drinks among everyone else's recommendations, printed beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beverage_tastes_get_their_drinks() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    for (model, options) in [
        ("club", ", exclude_bought true"),
        (
            "club_cooccurrence",
            ", exclude_bought true, method 'cooccurrence'",
        ),
    ] {
        train(
            &engine,
            model,
            options,
            "SELECT customer_id, sku AS item, ts, CAST(rating AS DOUBLE) AS weight FROM drink_ratings",
        )
        .await;
        let truth = lake.path().join("_truth/tastes");
        let rows = run(
            &engine,
            &format!(
                "WITH recs AS (
                   SELECT t.taste, p.subcategory
                   FROM recommend('{model}', 5) r
                   JOIN products p ON p.sku = r.item
                   JOIN '{}' t ON t.customer_id = r.customer_id),
                 wanted(taste, subcategory) AS (VALUES ('lager_lover', 'lager'),
                   ('craft_aficionado', 'craft_beer'), ('regional_explorer', 'regional_beer'),
                   ('cider_fan', 'cider'))
                 SELECT w.taste, count(*) AS recommended,
                   avg(CASE WHEN r.taste = w.taste AND r.subcategory = w.subcategory THEN 1.0
                            WHEN r.taste = w.taste THEN 0.0 END) AS precision,
                   avg(CASE WHEN r.taste <> w.taste AND r.subcategory = w.subcategory THEN 1.0
                            WHEN r.taste <> w.taste THEN 0.0 END) AS others
                 FROM wanted w CROSS JOIN recs r
                 GROUP BY w.taste ORDER BY w.taste",
                truth.display()
            ),
        )
        .await;
        println!("{model}:\n{}", text(&rows));
        let tastes = strings(&rows, "taste");
        assert_eq!(tastes.len(), 4, "{}", text(&rows));
        for ((taste, precision), others) in tastes
            .iter()
            .zip(floats(&rows, "precision"))
            .zip(floats(&rows, "others"))
        {
            assert!(precision >= 0.6, "{model}: {taste} precision {precision}");
            assert!(
                precision >= 2.0 * others,
                "{model}: {taste} precision {precision}, others {others}"
            );
        }
    }
}

/// The ALS factors are stored beside the model and read back when a lake
/// is opened again (the same recommendations, without fitting again): a
/// damaged factors file is an error naming it, not a silent refit.
async fn stored_factors_are_read(engine: &Engine, lake: &std::path::Path) {
    let query = "SELECT customer_id, rank, item, score FROM recommend('taste_als', 3)
                 WHERE customer_id % 97 = 0 ORDER BY customer_id, rank";
    let before = text(&run(engine, query).await);
    let location = lake.to_string_lossy();
    let after = text(&run(&open(&location).await, query).await);
    assert_eq!(before, after);
    let file = lake.join("_microseg/models/taste_als/v1/factors.parquet");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let e = error(&open(&location).await, query).await;
    assert!(
        e.contains("factors.parquet") && e.contains("unreadable"),
        "{e}"
    );
}

/// The recbole wheel holding MovieLens-100k: tests/run.sh downloads it;
/// run alone, the test downloads it the same way.
fn recbole_wheel() -> PathBuf {
    if let Ok(path) = std::env::var("MICROSEG_RECBOLE_WHEEL") {
        return PathBuf::from(path);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-data/recbole");
    let wheel = dir.join("recbole-1.2.1-py3-none-any.whl");
    if !wheel.exists() {
        let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
        let status = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "recbole==1.2.1",
                "-d",
            ])
            .arg(&dir)
            .status()
            .expect("pip download recbole");
        assert!(status.success(), "pip download recbole==1.2.1 failed");
    }
    wheel
}

/// MovieLens-100k, global 80/20 time split, new items only: the model's
/// precision@10 is at least popularity's, and model_evaluate's figures for
/// both equal the Python reference's on the same lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movielens_beats_popularity_and_metrics_match_python() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let csv = lake.path().join("ml-100k.csv");
    let cutoff = python(&[
        "movielens",
        &recbole_wheel().to_string_lossy(),
        &csv.to_string_lossy(),
    ]);
    let cutoff = cutoff.as_i64().unwrap();
    run(
        &engine,
        &format!(
            "CREATE EXTERNAL TABLE ml_raw STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            csv.display()
        ),
    )
    .await;
    run(
        &engine,
        "CREATE VIEW ml AS SELECT customer_id, item, to_timestamp(ts) AS ts FROM ml_raw",
    )
    .await;
    train(
        &engine,
        "movies",
        ", exclude_bought true",
        &format!("SELECT * FROM ml WHERE ts < to_timestamp({cutoff})"),
    )
    .await;
    let k = 10;
    let report = run(
        &engine,
        &format!("SELECT * FROM model_evaluate('movies', ml, {k})"),
    )
    .await;
    println!("{}", text(&report));
    let methods = strings(&report, "method");
    assert_eq!(methods, ["model:blend", "popularity", "buy_again"]);
    let recs = lake.path().join("recs.csv");
    run(
        &engine,
        &format!(
            "COPY (SELECT customer_id, rank, item FROM recommend('movies', {k})) TO '{}' STORED AS CSV",
            recs.display()
        ),
    )
    .await;
    let reference = python(&[
        "rank",
        &csv.to_string_lossy(),
        &cutoff.to_string(),
        &recs.to_string_lossy(),
        &k.to_string(),
    ]);
    for (row, name) in [(0, "model"), (1, "popularity")] {
        for metric in [
            "users",
            "precision_at_k",
            "recall_at_k",
            "map_at_k",
            "ndcg_at_k",
            "hit_rate",
            "coverage",
        ] {
            let ours = floats(&report, metric)[row];
            let theirs = reference[name][metric].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() < 1e-9,
                "{name} {metric}: {ours} vs {theirs}"
            );
        }
    }
    let precision = floats(&report, "precision_at_k");
    assert!(
        precision[0] >= precision[1],
        "model {} < popularity {}",
        precision[0],
        precision[1]
    );
}

/// On the generated lake, trained on all but the last 90 days and scored
/// on those: the blend beats both of its baselines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blend_beats_both_baselines_on_the_lake() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &format!("CREATE VIEW lines AS {ORDER_ITEMS}")).await;
    train(
        &engine,
        "shop",
        ", half_life_days 180",
        "SELECT * FROM lines WHERE ts < (SELECT max(ts) - INTERVAL '90 days' FROM lines)",
    )
    .await;
    let report = run(&engine, "SELECT * FROM model_evaluate('shop', lines, 10)").await;
    println!("{}", text(&report));
    assert_eq!(
        strings(&report, "method"),
        ["model:blend", "popularity", "buy_again"]
    );
    for metric in ["precision_at_k", "ndcg_at_k"] {
        let m = floats(&report, metric);
        assert!(m[0] > m[1] && m[0] > m[2], "{metric}: {m:?}");
    }
}
