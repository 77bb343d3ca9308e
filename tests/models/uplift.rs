//! Uplift models: the metrics against scikit-uplift on the same scores,
//! the T- and X-learners against scikit-learn's classifiers and ridge
//! regressions, the planted persona campaign effects on the generated lake
//! (through `sql/experiments/persuadables.sql`), versions, and the error
//! paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use microseg::Engine;

use super::classifier::{column, copy_csv};
use super::describe;
use crate::fixtures::medium_lake_copy;
use crate::support::{error, open, run};

fn python(args: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/uplift_reference.py");
    let python = std::env::var("MICROSEG_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run python3 (tests/run.sh sets up a venv with scikit-uplift)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Runs `sql/experiments/persuadables.sql` as an analyst would, statement
/// by statement (views `uplift_features`, `uplift_sends`, model `persuade`,
/// view `persuadables`).
async fn load_persuadables(engine: &Engine) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/experiments/persuadables.sql");
    let sql = std::fs::read_to_string(&path).unwrap();
    for statement in engine.split_script(&sql).unwrap() {
        engine
            .sql(&statement.sql)
            .await
            .unwrap_or_else(|e| panic!("persuadables.sql line {}: {e}", statement.line))
            .collect()
            .await
            .unwrap_or_else(|e| panic!("persuadables.sql line {}: {e}", statement.line));
    }
}

const FEATURES: &str = "beverages_share, electronics_share, baby_share, grocery_share, fashion_share, app_share, store_share, mean_hour, orders, avg_amount";

/// model_evaluate's three rankings equal scikit-uplift's Qini coefficient,
/// AUUC, curve areas and uplift@k on the very scores predict_uplift gives
/// (a send-time feature keeps the scores untied).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplift_metrics_match_scikit_uplift() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    load_persuadables(&engine).await;
    run(
        &engine,
        "CREATE VIEW sends1 AS SELECT f.*, CAST(date_part('epoch', s.sent_ts) AS DOUBLE) AS sent, s.variant, s.converted FROM campaign_sends s JOIN uplift_features f USING (customer_id)",
    )
    .await;
    run(
        &engine,
        &format!(
            "CREATE MODEL lin OPTIONS (model_type 'uplift', base_model 'logistic_reg', l2_reg 1, treatment_col 'variant', treatment_value 'treatment', input_label_cols ['converted']) AS SELECT {FEATURES}, sent, variant, converted FROM sends1"
        ),
    )
    .await;
    let csv = lake.path().join("uplift.csv");
    copy_csv(
        &engine,
        &format!(
            "SELECT predict_uplift('lin', {FEATURES}, sent) AS s, CAST(converted AS INT) AS y, CASE WHEN variant = 'treatment' THEN 1 ELSE 0 END AS t FROM sends1"
        ),
        &csv,
    )
    .await;
    let theirs = python(&["metrics", csv.to_str().unwrap()]);
    let batches = run(
        &engine,
        "SELECT * FROM model_evaluate('lin', sends1) ORDER BY ranking",
    )
    .await;
    // model, perfect, random.
    let value = |metric: &str, row: usize| column(&batches, metric)[row];
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let mut checks = vec![
        ("qini_coefficient", 0, "qini_coefficient"),
        ("auuc", 0, "auuc"),
        ("qini_area", 0, "qini_area"),
        ("qini_area", 1, "qini_perfect_area"),
        ("qini_area", 2, "qini_random_area"),
        ("uplift_area", 0, "uplift_area"),
        ("uplift_area", 1, "uplift_perfect_area"),
        ("uplift_area", 2, "uplift_random_area"),
    ];
    for k in ["10", "20", "30"] {
        checks.push((
            Box::leak(format!("uplift_at_{k}").into_boxed_str()),
            0,
            Box::leak(format!("uplift_at_{k}").into_boxed_str()),
        ));
        checks.push((
            Box::leak(format!("uplift_at_{k}").into_boxed_str()),
            2,
            "average_uplift",
        ));
    }
    for (ours, row, reference) in checks {
        let reference = theirs[reference].as_f64().unwrap();
        let value = value(ours, row);
        println!("{ours} (row {row}): microseg {value:?}, scikit-uplift {reference:.12}");
        let value = value.unwrap_or_else(|| panic!("{ours} is NULL"));
        assert!(close(value, reference), "{ours}: {value} vs {reference}");
    }
    // The perfect ranking's uplift@k: NULL where its top rows hold one arm
    // (scikit-uplift's mean of no rows is NaN there).
    for k in ["10", "20", "30"] {
        let reference = theirs[&format!("perfect_uplift_at_{k}")].as_f64();
        let value = value(&format!("uplift_at_{k}"), 1);
        println!("perfect uplift_at_{k}: microseg {value:?}, scikit-uplift {reference:?}");
        match (value, reference) {
            (Some(v), Some(r)) => assert!(close(v, r), "{v} vs {r}"),
            (v, r) => assert_eq!(v, r),
        }
    }
    // The model ranks better than chance, and so says DESCRIBE MODEL on
    // its evaluation rows.
    assert!(value("qini_coefficient", 0).unwrap() > 0.05);
    let ours = describe(&engine, "lin").await;
    assert!(
        ours.contains_key("metric.eval_qini_coefficient"),
        "{ours:?}"
    );
}

/// T- and X-learner on logistic regression: every row's uplift equals the
/// scikit-learn construction of the same learner (LogisticRegression per
/// arm, Ridge on the imputed effects); a new engine on the same lake reads
/// the stored model back to the same predictions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learners_match_scikit_learn() {
    let lake = medium_lake_copy();
    let location = lake.path().to_string_lossy().into_owned();
    let engine = open(&location).await;
    load_persuadables(&engine).await;
    let csv = lake.path().join("sends.csv");
    copy_csv(
        &engine,
        &format!(
            "SELECT {FEATURES}, CASE WHEN variant = 'treatment' THEN 1 ELSE 0 END AS t, CAST(converted AS INT) AS y FROM uplift_sends ORDER BY customer_id, variant, converted"
        ),
        &csv,
    )
    .await;
    let theirs = python(&["learners", csv.to_str().unwrap(), "0.5"]);
    let scored = |model: &str| {
        format!(
            "SELECT predict_uplift('{model}', {FEATURES}) AS u FROM uplift_sends ORDER BY customer_id, variant, converted"
        )
    };
    for learner in ["t", "x"] {
        run(
            &engine,
            &format!(
                "CREATE MODEL {learner}_lin OPTIONS (model_type 'uplift', learner '{learner}', base_model 'logistic_reg', l2_reg 0.5, data_split_method 'no_split', treatment_col 'variant', treatment_value 'treatment', input_label_cols ['converted']) AS SELECT {FEATURES}, variant, converted FROM uplift_sends"
            ),
        )
        .await;
        let ours = column(&run(&engine, &scored(&format!("{learner}_lin"))).await, "u");
        let reference: Vec<f64> = theirs[learner]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), reference.len());
        let worst = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a.unwrap() - b).abs())
            .fold(0.0, f64::max);
        println!("{learner}-learner: largest difference from scikit-learn {worst:.2e}");
        assert!(worst < 1e-6, "{learner}: {worst}");
    }
    let before = column(&run(&engine, &scored("x_lin")).await, "u");
    let again = open(&location).await;
    load_persuadables(&again).await;
    assert_eq!(column(&run(&again, &scored("x_lin")).await, "u"), before);
    let described = describe(&again, "x_lin").await;
    assert_eq!(described["model_type"], "uplift");
    assert_eq!(described["learner"], "x");
    assert_eq!(described["control_value"], "holdout");
}

fn strings(batches: &[datafusion::arrow::array::RecordBatch], name: &str) -> Vec<String> {
    use datafusion::arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for b in batches {
        let c = datafusion::arrow::compute::cast(
            b.column_by_name(name).unwrap(),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

/// Spearman's rank correlation of two equally long lists (no ties).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let ranks = |v: &[f64]| {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (rank, &i) in order.iter().enumerate() {
            r[i] = rank as f64;
        }
        r
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// persuadables.sql on the generated lake recovers the planted campaign
/// effects (sql/README.md, "Planted behaviour"): personas ranked by their
/// mean estimated uplift follow the planted uplift, and the one persona
/// mail puts off (tech_enthusiast, planted −0.6: mail cancels its organic
/// orders) is flagged: the lowest mean uplift, below zero, and the largest
/// share of 'do_not_mail' customers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persuadables_recover_the_planted_persona_effects() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    load_persuadables(&engine).await;
    let truth = lake.path().join("_truth/personas/part-0.parquet");
    let batches = run(
        &engine,
        &format!(
            "SELECT t.persona, avg(p.uplift) AS uplift,
                    avg(CASE WHEN p.action = 'do_not_mail' THEN 1.0 ELSE 0.0 END) AS dogs
             FROM persuadables p JOIN '{}' t USING (customer_id) GROUP BY t.persona ORDER BY t.persona",
            truth.display()
        ),
    )
    .await;
    let personas = strings(&batches, "persona");
    let uplift: Vec<f64> = column(&batches, "uplift")
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let dogs: Vec<f64> = column(&batches, "dogs")
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let planted: HashMap<&str, f64> = [
        ("premium_loyalist", 0.0),
        ("bargain_hunter", 0.25),
        ("lapsed", 0.12),
        ("new_customer", 0.15),
        ("seasonal_gifter", 0.10),
        ("app_first_commuter", 0.02),
        ("craft_beer_aficionado", 0.04),
        ("young_parent", 0.05),
        ("tech_enthusiast", -0.6),
        ("occasional", 0.05),
        ("store_regular", 0.01),
    ]
    .into_iter()
    .collect();
    let planted_values: Vec<f64> = personas.iter().map(|p| planted[p.as_str()]).collect();
    for ((p, u), d) in personas.iter().zip(&uplift).zip(&dogs) {
        println!(
            "persona {p}: planted {:.2}, mean estimated uplift {u:.4}, do_not_mail {:.1}%",
            planted[p.as_str()],
            100.0 * d
        );
    }
    let rho = spearman(&uplift, &planted_values);
    println!("Spearman rank correlation, estimated vs planted: {rho:.3}");
    // 0.6 is above the one-sided 5% critical value of Spearman's rho for
    // 11 items (0.536): the ranking follows the planted one, not chance
    // (0.709 with this seed; new_customer, with few sends and short
    // histories, is the persona it misplaces most).
    assert!(rho >= 0.6, "rho {rho}");
    let at = |name: &str| personas.iter().position(|p| p == name).unwrap();
    let lowest = (0..uplift.len())
        .min_by(|&a, &b| uplift[a].total_cmp(&uplift[b]))
        .unwrap();
    assert_eq!(personas[lowest], "tech_enthusiast", "{uplift:?}");
    assert!(uplift[at("tech_enthusiast")] < 0.0);
    let highest = (0..uplift.len())
        .max_by(|&a, &b| uplift[a].total_cmp(&uplift[b]))
        .unwrap();
    assert_eq!(personas[highest], "bargain_hunter", "{uplift:?}");
    let most = (0..dogs.len())
        .max_by(|&a, &b| dogs[a].total_cmp(&dogs[b]))
        .unwrap();
    assert_eq!(personas[most], "tech_enthusiast", "{dogs:?}");
    assert!(dogs[most] >= 0.2, "{dogs:?}");
    // The evaluation on the sends ranks better than chance.
    let report = run(
        &engine,
        "SELECT qini_coefficient FROM model_evaluate('persuade', uplift_sends) WHERE ranking = 'model'",
    )
    .await;
    let qini = column(&report, "qini_coefficient")[0].unwrap();
    println!("persuade: Qini coefficient on its sends {qini:.3}");
    assert!(qini > 0.1, "{qini}");
}

/// Every bad input names the model and the argument.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplift_errors() {
    let lake = medium_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    load_persuadables(&engine).await;
    let create = |options: &str, select: &str| {
        format!(
            "CREATE MODEL bad OPTIONS (model_type 'uplift', base_model 'logistic_reg', input_label_cols ['converted']{options}) AS SELECT orders, avg_amount{select}"
        )
    };
    const ROWS: &str = ", variant, converted FROM uplift_sends";
    let cases = [
        (
            create(
                ", treatment_col 'variant', treatment_value 'treatment'",
                &format!("{ROWS} WHERE variant = 'treatment'"),
            ),
            vec![
                "CREATE MODEL bad",
                "treatment_col variant has a single arm (treatment)",
            ],
        ),
        (
            create(", treatment_col 'variant', treatment_value 'mailed'", ROWS),
            vec![
                "CREATE MODEL bad",
                "treatment_value 'mailed' is not a value of treatment_col variant",
                "holdout, treatment",
            ],
        ),
        (
            create(
                ", treatment_col 'variant', treatment_value 'treatment'",
                ", variant, CAST(orders AS INT) % 3 AS converted FROM uplift_sends",
            ),
            vec!["CREATE MODEL bad", "label column converted is not binary"],
        ),
        (
            create(", treatment_value 'treatment'", ROWS),
            vec!["CREATE MODEL bad", "needs option treatment_col"],
        ),
        (
            create(", treatment_col 'arm', treatment_value 'treatment'", ROWS),
            vec!["CREATE MODEL bad", "no column arm", "treatment_col"],
        ),
        (
            create(
                ", treatment_col 'variant', treatment_value 'treatment', learner 'z'",
                ROWS,
            ),
            vec!["CREATE MODEL bad", "option learner", "'z'"],
        ),
        (
            format!(
                "CREATE MODEL bad OPTIONS (model_type 'uplift', base_model 'kmeans', input_label_cols ['converted'], treatment_col 'variant', treatment_value 'treatment') AS SELECT orders{ROWS}"
            ),
            vec!["CREATE MODEL bad", "option base_model", "'kmeans'"],
        ),
    ];
    for (sql, needles) in &cases {
        let err = error(&engine, sql).await;
        for needle in needles {
            assert!(err.contains(needle), "{sql}\n{err}\nmissing: {needle}");
        }
    }
    // The single-arm case above filtered one arm out but kept every row:
    // fix the query to check the message does not come from elsewhere.
    run(
        &engine,
        &create(
            ", treatment_col 'variant', treatment_value 'treatment'",
            ROWS,
        ),
    )
    .await;
    run(
        &engine,
        "CREATE MODEL churn OPTIONS (model_type 'logistic_reg', input_label_cols ['converted']) AS SELECT orders, avg_amount, converted FROM uplift_sends",
    )
    .await;
    for (sql, needles) in [
        (
            "SELECT predict_uplift('churn', orders, avg_amount) FROM uplift_sends",
            vec![
                "predict_uplift",
                "argument 1 (model)",
                "churn@1",
                "logistic regression",
                "not an uplift model",
            ],
        ),
        (
            "SELECT predict_proba('bad', orders, avg_amount) FROM uplift_sends",
            vec![
                "predict_proba",
                "argument 1 (model)",
                "bad@1",
                "uplift",
                "not a classifier",
            ],
        ),
        (
            "SELECT predict_uplift('bad', orders) FROM uplift_sends",
            vec!["predict_uplift", "bad@1 has 2 features"],
        ),
        (
            "SELECT * FROM model_evaluate('bad', uplift_features)",
            vec![
                "model_evaluate",
                "argument 2 (relation)",
                "no column converted",
                "bad@1",
            ],
        ),
        (
            "SELECT * FROM model_roc('bad', uplift_sends)",
            vec!["model_roc", "bad@1 is an uplift model"],
        ),
    ] {
        let err = error(&engine, sql).await;
        for needle in &needles {
            assert!(err.contains(needle), "{sql}\n{err}\nmissing: {needle}");
        }
    }
}
