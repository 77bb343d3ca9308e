//! Implicit ALS against the `implicit` package (PyPI), a bench of the
//! `microseg-kernels` crate (no DataFusion): the same interactions, factors,
//! λ, α, iterations and threads; fit time and the loss of each fit (numpy,
//! the formula of `recommend::als`) side by side.
//!
//! ```text
//! microseg sql --lake bench-lake -c "COPY (SELECT dense_rank() OVER (ORDER BY customer_id) - 1 AS u, dense_rank() OVER (ORDER BY sku) - 1 AS i, n AS r FROM (SELECT customer_id, sku, count(*) AS n FROM order_items GROUP BY customer_id, sku)) TO 'target/als-triples.csv' STORED AS CSV"
//! cargo bench -p microseg-kernels --bench als_fit -- target/als-triples.csv FACTORS ITERATIONS THREADS PYTHON
//! ```
//!
//! `PYTHON` runs `benches/peers/als_worker.py` (implicit, numpy, scipy);
//! `/bin/false` skips the peer.

use std::time::Instant;

use microseg_kernels::recommend::als::{AlsOptions, fit};

const LAMBDA: f64 = 0.1;
const ALPHA: f64 = 2.0;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.len() != 6 {
        eprintln!("usage: als_fit TRIPLES_CSV FACTORS ITERATIONS THREADS PYTHON");
        std::process::exit(2);
    }
    let path = &args[1];
    let factors: usize = args[2].parse().expect("FACTORS");
    let iterations: usize = args[3].parse().expect("ITERATIONS");
    let threads: usize = args[4].parse().expect("THREADS");
    let text = std::fs::read_to_string(path).expect("read the triples CSV");
    let mut triples = Vec::new();
    let (mut users, mut items) = (0usize, 0usize);
    for line in text.lines().skip(1) {
        let mut parts = line.split(',');
        let mut next = || parts.next().expect("u,i,r").trim();
        let u: u32 = next().parse().expect("u");
        let i: u32 = next().parse().expect("i");
        let r: f64 = next().parse().expect("r");
        users = users.max(u as usize + 1);
        items = items.max(i as usize + 1);
        triples.push((u, i, r));
    }
    let options = AlsOptions {
        factors,
        regularization: LAMBDA,
        alpha: ALPHA,
        iterations,
        seed: 42,
        threads,
        ..AlsOptions::default()
    };
    let started = Instant::now();
    let fitted = fit(users, items, &triples, &options).expect("fit");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "microseg als: {users} customers × {items} items, {} interactions, {factors} factors, {iterations} iterations, {threads} threads: {seconds:.2} s, loss {:.6e}",
        triples.len(),
        fitted.loss.last().copied().unwrap_or(f64::NAN)
    );
    let worker =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/peers/als_worker.py");
    let status = std::process::Command::new(&args[5])
        .arg(worker)
        .args([
            path,
            &args[2],
            &args[3],
            &args[4],
            &LAMBDA.to_string(),
            &ALPHA.to_string(),
        ])
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => println!("implicit: skipped (no peer run)"),
    }
}
