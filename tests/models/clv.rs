//! Customer lifetime value: clv_summary, BG/NBD and Gamma-Gamma against
//! lifetimes, and parameter recovery from simulated customers.

use std::path::PathBuf;
use std::process::Command;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;

use super::{describe, rel_close};
use crate::fixtures::small_lake_copy;
use crate::support::{open, run};

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

/// clv_summary's aggregate keeps every period as state, so the engine
/// plans it in one phase: as one `DenseAggregateExec` by customer (no
/// partial states, no shuffle). The answers are checked against lifetimes
/// in `lifetime_value_matches_lifetimes` and against the two-phase plan of
/// a cluster in models.slt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clv_summary_aggregates_in_one_phase() {
    let lake = small_lake_copy();
    let engine = open(&lake.path().to_string_lossy()).await;
    let plan = run(
        &engine,
        "EXPLAIN SELECT frequency, recency, t FROM clv_summary(orders, customer_id, order_ts, amount, DATE '2026-10-31')",
    )
    .await;
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    let physical = text
        .split("physical_plan")
        .nth(1)
        .expect("EXPLAIN shows the physical plan");
    assert!(
        physical.contains("DenseAggregateExec: gby=[customer_id")
            && physical.contains("clv_periods(period, amount)"),
        "{text}"
    );
    assert!(!physical.contains("mode=Partial"), "{text}");
    assert!(!physical.contains("RepartitionExec"), "{text}");
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
