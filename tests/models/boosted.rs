//! Boosted trees: AUC against LightGBM on the same split (a generated churn
//! task, and the Telco churn CSV shipped inside evalml's wheel), TreeSHAP
//! contributions adding up to the logit, importance, DESCRIBE, and the
//! error paths.

use std::path::PathBuf;
use std::process::Command;

use datafusion::prelude::CsvReadOptions;
use microseg::{Engine, EngineOptions};

use super::classifier::{FEATURES, churn_view, column, copy_csv};
use super::describe;
use crate::fixtures::{medium_lake_copy, small_lake_copy};
use crate::support::{error, open, run};

fn python(args: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/gbdt_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with lightgbm)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// LightGBM's defaults, which are ours: 100 trees, 31 leaves, η 0.1.
const PARAMS: &str = r#"{"trees": 100, "learning_rate": 0.1, "num_leaves": 31}"#;
const OPTIONS: &str =
    "model_type 'boosted_tree_classifier', data_split_method 'no_split', early_stop false";

/// Trained on churn_labels at one cutoff, scored at the next: our AUC is
/// within 0.005 of LightGBM's with the same parameters on the same rows;
/// the contributions add up to the logit; importance and DESCRIBE agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boosted_trees_match_lightgbm_on_generated_churn() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(&engine, &churn_view("train", "2026-04-01")).await;
    run(&engine, &churn_view("next", "2026-07-01")).await;
    run(
        &engine,
        &format!(
            "CREATE MODEL gb OPTIONS ({OPTIONS}, input_label_cols ['churned']) AS SELECT {FEATURES}, churned FROM train"
        ),
    )
    .await;
    let (train, next, scores) = (
        lake.path().join("train.csv"),
        lake.path().join("next.csv"),
        lake.path().join("scores.csv"),
    );
    for (view, csv) in [("train", &train), ("next", &next)] {
        copy_csv(
            &engine,
            &format!("SELECT customer_id, {FEATURES}, churned FROM {view} ORDER BY customer_id"),
            csv,
        )
        .await;
    }
    copy_csv(
        &engine,
        &format!(
            "SELECT predict_proba('gb', {FEATURES}) AS p, CAST(churned AS INT) AS y FROM next"
        ),
        &scores,
    )
    .await;
    let theirs = python(&[
        "lightgbm",
        train.to_str().unwrap(),
        next.to_str().unwrap(),
        "churned",
        "customer_id",
        scores.to_str().unwrap(),
        PARAMS,
    ]);
    let (ours, lgbm) = (
        theirs["microseg_auc"].as_f64().unwrap(),
        theirs["lightgbm_auc"].as_f64().unwrap(),
    );
    println!("next-cutoff AUC: microseg {ours:.5}, LightGBM {lgbm:.5}");
    assert!(
        (ours - lgbm).abs() <= 0.005,
        "microseg {ours} vs LightGBM {lgbm}"
    );

    // model_evaluate scores the same predictions.
    let evaluated = run(&engine, "SELECT roc_auc FROM model_evaluate('gb', next)").await;
    assert!((column(&evaluated, "roc_auc")[0].unwrap() - ours).abs() < 1e-9);

    // DESCRIBE: 100 trees of at most 31 leaves.
    let d = describe(&engine, "gb").await;
    assert_eq!(d["model_type"], "boosted_tree_classifier");
    assert_eq!(d["trees"], "100", "{d:?}");
    assert_eq!(d["max_leaves_per_tree"], "31", "{d:?}");
    let leaves: f64 = d["leaves"].parse().unwrap();

    // TreeSHAP: every column's contribution plus the expected value is the
    // row's logit.
    let expected: f64 = d["parameter.expected_value"].parse().unwrap();
    let batches = run(
        &engine,
        &format!(
            "WITH e AS (SELECT customer_id, predict_proba('gb', {FEATURES}) AS p,
                               unnest(explain_predict('gb', 6, {FEATURES})) AS item FROM next)
             SELECT max(abs(ln(p / (1 - p)) - ({expected}) - s)) AS gap, min(items) AS items
             FROM (SELECT customer_id, max(p) AS p, sum(item['contribution']) AS s, count(*) AS items FROM e GROUP BY customer_id)"
        ),
    )
    .await;
    assert!(column(&batches, "gap")[0].unwrap() < 1e-8, "{batches:?}");
    assert_eq!(column(&batches, "items")[0].unwrap(), 6.0);

    // Importance: one split per internal node (leaves − trees in all),
    // ranked by gain.
    let importance = run(
        &engine,
        "SELECT feature, weight, gain, cover, share FROM model_feature_importance('gb')",
    )
    .await;
    let weights: f64 = column(&importance, "weight").iter().flatten().sum();
    assert_eq!(weights, leaves - 100.0);
    let gains = column(&importance, "gain");
    assert!(gains.windows(2).all(|w| w[0] >= w[1]));
    let shares: f64 = column(&importance, "share").iter().flatten().sum();
    assert!((shares - 1.0).abs() < 1e-12);
    assert!(
        column(&importance, "cover")
            .iter()
            .all(|c| c.unwrap() >= 0.0)
    );
}

/// The Telco churn CSV inside evalml's wheel, 70/30: our AUC is within
/// 0.01 of LightGBM's with the same parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boosted_trees_match_lightgbm_on_telco_churn() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-data");
    let out = lake.path().join("telco");
    let split = python(&["telco", cache.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(split["train"].as_u64().unwrap() > 4000, "{split}");
    for table in ["train", "test"] {
        engine
            .session()
            .register_csv(
                format!("telco_{table}"),
                out.join(format!("{table}.csv")).to_str().unwrap(),
                CsvReadOptions::new(),
            )
            .await
            .unwrap();
    }
    let features = "gender, \"SeniorCitizen\", \"Partner\", \"Dependents\", tenure, \"PhoneService\", \"MultipleLines\", \"InternetService\", \"OnlineSecurity\", \"OnlineBackup\", \"DeviceProtection\", \"TechSupport\", \"StreamingTV\", \"StreamingMovies\", \"Contract\", \"PaperlessBilling\", \"PaymentMethod\", \"MonthlyCharges\", \"TotalCharges\"";
    run(
        &engine,
        &format!(
            "CREATE MODEL telco OPTIONS ({OPTIONS}, input_label_cols ['Churn']) AS SELECT {features}, \"Churn\" FROM telco_train"
        ),
    )
    .await;
    let d = describe(&engine, "telco").await;
    assert_eq!(d["positive_class"], "Yes");
    let scores = out.join("scores.csv");
    copy_csv(
        &engine,
        &format!(
            "SELECT predict_proba('telco', {features}) AS p, CAST(\"Churn\" = 'Yes' AS INT) AS y FROM telco_test"
        ),
        &scores,
    )
    .await;
    let theirs = python(&[
        "lightgbm",
        out.join("train.csv").to_str().unwrap(),
        out.join("test.csv").to_str().unwrap(),
        "Churn",
        "customerID",
        scores.to_str().unwrap(),
        PARAMS,
    ]);
    let (ours, lgbm) = (
        theirs["microseg_auc"].as_f64().unwrap(),
        theirs["lightgbm_auc"].as_f64().unwrap(),
    );
    println!("Telco AUC: microseg {ours:.5}, LightGBM {lgbm:.5}");
    assert!(
        (ours - lgbm).abs() <= 0.01,
        "microseg {ours} vs LightGBM {lgbm}"
    );
}

/// Bad input: clear errors naming the model and the option or column;
/// training memory comes from the pool; early stopping and the split.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boosted_tree_options_and_errors() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    run(
        &engine,
        "CREATE VIEW t AS SELECT CAST(v AS DOUBLE) AS x, CASE WHEN v % 3 = 0 THEN 'a' ELSE 'b' END AS c, v % 2 = 0 AS y, v % 5 AS five, CASE WHEN v % 7 = 0 THEN NULL ELSE v % 11 END AS gappy FROM generate_series(1, 600) s(v)",
    )
    .await;
    let gb = "CREATE MODEL m OPTIONS (model_type 'boosted_tree_classifier'";
    for (sql, wanted) in [
        (
            format!("{gb}, input_label_cols ['nope']) AS SELECT x, y FROM t"),
            "CREATE MODEL m: the training query has no column nope",
        ),
        (
            format!("{gb}, input_label_cols ['five']) AS SELECT x, five FROM t"),
            "CREATE MODEL m: label column five is not binary: it has more than two values (1, 2, 3, …); boosted_tree_classifier needs two classes",
        ),
        (
            format!("{gb}, input_label_cols ['y']) AS SELECT x, true AS y FROM t"),
            "CREATE MODEL m: label column y has a single class (true)",
        ),
        (
            format!(
                "{gb}, input_label_cols ['y']) AS SELECT x, CAST(NULL AS DOUBLE) AS z, y FROM t"
            ),
            "CREATE MODEL m: column z is NULL in every row",
        ),
        (
            format!("{gb}, input_label_cols ['y'], num_leaves 1) AS SELECT x, y FROM t"),
            "CREATE MODEL m: option num_leaves must be a whole number from 2 to 4096, got 1",
        ),
        (
            format!("{gb}, input_label_cols ['y'], subsample 0) AS SELECT x, y FROM t"),
            "CREATE MODEL m: option subsample must be a number in (0, 1]",
        ),
        (
            format!("{gb}, input_label_cols ['y'], learning_rate 2) AS SELECT x, y FROM t"),
            "CREATE MODEL m: option learning_rate must be a number in (0, 1]",
        ),
        (
            format!("{gb}, input_label_cols ['y'], early_stop 'yes') AS SELECT x, y FROM t"),
            "CREATE MODEL m: option early_stop must be true or false",
        ),
        (
            format!("{gb}, input_label_cols ['y'], num_clusters 3) AS SELECT x, y FROM t"),
            "CREATE MODEL m: unknown option num_clusters (options for boosted_tree_classifier:",
        ),
        (
            "CREATE MODEL m OPTIONS (model_type 'logistic_reg', input_label_cols ['y'], num_leaves 8) AS SELECT x, y FROM t".into(),
            "CREATE MODEL m: unknown option num_leaves (options for logistic_reg:",
        ),
    ] {
        let e = error(&engine, &sql).await;
        assert!(e.contains(wanted), "{sql}:\n{e}");
    }
    // NULL numbers are missing values, not the mean: a column NULL exactly
    // where the label is positive is learned perfectly.
    run(
        &engine,
        &format!(
            "{gb}, input_label_cols ['y'], data_split_method 'no_split', max_iterations 20) AS SELECT CASE WHEN y THEN NULL ELSE x END AS hidden, c, y FROM t"
        ),
    )
    .await;
    run(
        &engine,
        "CREATE VIEW h AS SELECT CASE WHEN y THEN NULL ELSE x END AS hidden, c, y FROM t",
    )
    .await;
    let evaluated = run(
        &engine,
        "SELECT roc_auc, accuracy FROM model_evaluate('m', h)",
    )
    .await;
    assert_eq!(column(&evaluated, "accuracy")[0], Some(1.0));
    // Early stopping on the evaluation rows: fewer trees than asked when the
    // label is noise.
    run(
        &engine,
        "CREATE MODEL noise OPTIONS (model_type 'boosted_tree_classifier', input_label_cols ['y'], data_split_method 'random', data_split_eval_fraction 0.3, max_iterations 200) AS SELECT gappy, five, c, (x * 7919) % 13 < 6 AS y FROM t",
    )
    .await;
    let d = describe(&engine, "noise").await;
    let (kept, grown): (f64, f64) = (
        d["metric.trees"].parse().unwrap(),
        d["metric.trees_grown"].parse().unwrap(),
    );
    assert!(grown < 200.0 && kept + 10.0 == grown, "{d:?}");
    assert_eq!(d["option.early_stop"], "true");
    // Functions of the wrong model kind name both kinds.
    run(
        &engine,
        "CREATE MODEL km OPTIONS (model_type 'kmeans', num_clusters 2) AS SELECT x FROM t",
    )
    .await;
    let e = error(&engine, "SELECT * FROM model_feature_importance('km')").await;
    assert!(e.contains("km@1 is a k-means model, not a classifier (model_type 'logistic_reg' or 'boosted_tree_classifier')"), "{e}");
    let e = error(&engine, "SELECT cluster_assign('m', 1.0, 'a') FROM t").await;
    assert!(
        e.contains("m@1 is a boosted tree model, not a k-means model"),
        "{e}"
    );
    // Training memory comes from the pool.
    let small = Engine::open(
        &lake.path().to_string_lossy(),
        EngineOptions {
            memory_limit: Some("2MiB".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let e = error(
        &small,
        "CREATE MODEL big OPTIONS (model_type 'boosted_tree_classifier', input_label_cols ['y']) AS SELECT CAST(v AS DOUBLE) AS a, CAST(v * 7 % 13 AS DOUBLE) AS b, v % 2 = 0 AS y FROM generate_series(1, 400000) s(v)",
    )
    .await;
    assert!(
        e.contains("Resources exhausted") && e.contains("CREATE MODEL big"),
        "{e}"
    );
    // A model's trees survive the lake: a new engine scores the same.
    let reopened = open(&lake.path().to_string_lossy()).await;
    let sql = "SELECT sum(predict_proba('noise', CASE WHEN v % 7 = 0 THEN NULL ELSE v % 11 END, v % 5, CASE WHEN v % 3 = 0 THEN 'a' ELSE 'b' END)) AS s FROM generate_series(1, 600) s(v)";
    let before = run(&engine, sql).await;
    let after = run(&reopened, sql).await;
    assert_eq!(column(&before, "s"), column(&after, "s"));
}
