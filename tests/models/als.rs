//! Implicit ALS (`microseg_kernels::recommend::als`) against the `implicit`
//! package (PyPI) on the generated lake's purchases: the same loss,
//! computed independently with numpy for both fits, within 1%.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use microseg_udfs::model::recommend::als::{AlsOptions, fit};

use crate::fixtures::small_lake_str;
use crate::support::{open, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn als_loss_matches_implicit() {
    let engine = open(&small_lake_str()).await;
    let batches = run(
        &engine,
        "SELECT customer_id, sku, count(*) AS n FROM order_items GROUP BY customer_id, sku ORDER BY customer_id, sku",
    )
    .await;
    // Dense indexes in key order.
    let mut users = BTreeMap::new();
    let mut items = BTreeMap::new();
    let mut raw = Vec::new();
    for b in &batches {
        let c = b.column(0).as_primitive::<Int64Type>();
        let s = datafusion::arrow::compute::cast(
            b.column(1),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let s = s.as_string::<i32>();
        let n = b.column(2).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            raw.push((c.value(r), s.value(r).to_string(), n.value(r)));
            users.insert(c.value(r), 0u32);
            items.insert(s.value(r).to_string(), 0u32);
        }
    }
    for (k, v) in users.values_mut().enumerate() {
        *v = k as u32;
    }
    for (k, v) in items.values_mut().enumerate() {
        *v = k as u32;
    }
    let triples: Vec<(u32, u32, f64)> = raw
        .iter()
        .map(|(c, s, n)| (users[c], items[s], *n as f64))
        .collect();
    let (f, lambda, alpha, iterations) = (16, 0.1, 2.0, 15);
    let options = AlsOptions {
        factors: f,
        regularization: lambda,
        alpha,
        iterations,
        seed: 7,
        threads: 2,
        ..AlsOptions::default()
    };
    let ours = fit(users.len(), items.len(), &triples, &options).unwrap();
    println!(
        "{} customers × {} items, {} interactions; our loss by iteration {:?}",
        users.len(),
        items.len(),
        triples.len(),
        ours.loss
    );
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("triples.csv");
    let mut text = String::from("u,i,r\n");
    for (u, i, r) in &triples {
        text.push_str(&format!("{u},{i},{r}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let json = dir.path().join("factors.json");
    std::fs::write(
        &json,
        serde_json::json!({"users": ours.users, "items": ours.items}).to_string(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/als_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .args([
            "compare",
            csv.to_str().unwrap(),
            json.to_str().unwrap(),
            &f.to_string(),
            &lambda.to_string(),
            &alpha.to_string(),
            &iterations.to_string(),
        ])
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with implicit)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (a, b) = (
        theirs["ours"].as_f64().unwrap(),
        theirs["theirs"].as_f64().unwrap(),
    );
    let overlap = theirs["overlap"].as_f64().unwrap();
    println!(
        "loss (numpy): microseg {a:.4}, implicit {b:.4} ({:+.3}%); top-10 overlap {overlap:.3}",
        100.0 * (a - b) / b
    );
    // Our own loss equals numpy's on our factors: the objective is the one
    // the module documents.
    let last = ours.loss[ours.loss.len() - 1];
    assert!((last - a).abs() <= 1e-8 * a, "{last} vs {a}");
    assert!((a - b).abs() <= 0.01 * b, "microseg {a} vs implicit {b}");
}
