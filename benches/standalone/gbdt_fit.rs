//! Classifier training against its peers, a bench of the `microseg-kernels`
//! crate (no DataFusion, so it builds in seconds): the boosted trees against
//! LightGBM with the same parameters and threads, logistic regression
//! against scikit-learn's lbfgs, on the same generated rows, and the trees'
//! prediction throughput (rows/s of the kernel, without DataFusion):
//!
//! ```text
//! cargo bench -p microseg-kernels --bench gbdt_fit -- N D TREES LEAVES PYTHON
//! ```
//!
//! `PYTHON` runs `benches/peers/gbdt_worker.py` (lightgbm, scikit-learn);
//! `/bin/false` skips the peers.

use std::io::Write;
use std::time::Instant;

use microseg_kernels::classification::binary_metrics;
use microseg_kernels::gbdt::{GbdtOptions, fit};
use microseg_kernels::logistic::{self, LogisticOptions, sigmoid};

/// splitmix64: the rows are the same on every machine.
fn next(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// n rows of d uniform features (5% of feature 3 missing) and a label drawn
/// from a logit with linear terms, a step, an interaction and a sine.
fn data(n: usize, d: usize) -> (Vec<f64>, Vec<bool>) {
    let mut state = 11u64;
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..d).map(|_| next(&mut state) * 2.0 - 1.0).collect();
        let z = 1.5 * row[0] - row[1]
            + 2.0 * f64::from(u8::from(row[2] > 0.3))
            + 2.0 * row[3] * row[4]
            + (3.0 * row[5]).sin()
            + 0.5 * row.iter().skip(6).take(4).sum::<f64>()
            - 0.5;
        y.push(next(&mut state) < sigmoid(z));
        for (j, v) in row.into_iter().enumerate() {
            x.push(if j == 3 && next(&mut state) < 0.05 {
                f64::NAN
            } else {
                v
            });
        }
    }
    (x, y)
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.len() != 6 {
        eprintln!("usage: gbdt_fit N D TREES LEAVES PYTHON");
        std::process::exit(2);
    }
    let number = |i: usize| -> usize {
        args[i].parse().unwrap_or_else(|_| {
            eprintln!("argument {i} must be a whole number, got {}", args[i]);
            std::process::exit(2)
        })
    };
    let (n, d, trees, leaves) = (number(1), number(2), number(3), number(4));
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let (x, y) = data(n, d);
    // The last 20% score the fits.
    let cut = n * 4 / 5;
    let (train_x, test_x) = x.split_at(cut * d);
    let (train_y, test_y) = y.split_at(cut);
    let path = format!("{}/gbdt-{n}x{d}.f64", env!("CARGO_TARGET_TMPDIR"));
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("write rows"));
        for v in &x {
            file.write_all(&v.to_le_bytes()).expect("write data");
        }
        for &l in &y {
            file.write_all(&[u8::from(l)]).expect("write labels");
        }
    }
    println!("data: {n} rows × {d} features (80% train), {threads} threads");
    let s = vec![1.0; cut];
    let options = GbdtOptions {
        max_iterations: trees,
        num_leaves: leaves,
        threads,
        ..GbdtOptions::default()
    };
    let start = Instant::now();
    let model = fit(train_x, train_y, &s, d, None, &options)
        .expect("fit")
        .ensemble;
    let seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let p: Vec<f64> = test_x
        .chunks_exact(d)
        .map(|row| sigmoid(model.margin(row)))
        .collect();
    let predict = start.elapsed().as_secs_f64();
    let auc = binary_metrics(&p, test_y, 0.5).expect("metrics").roc_auc;
    println!(
        "microseg gbdt      fit {seconds:>8.3} s  test AUC {auc:.5}  predict {:.3e} rows/s (one thread)",
        p.len() as f64 / predict
    );
    // Logistic regression on the same rows, missing values as 0 (the mean).
    let filled: Vec<f64> = train_x
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { *v })
        .collect();
    let start = Instant::now();
    let lr = logistic::fit(
        &filled,
        train_y,
        &s,
        d,
        &LogisticOptions {
            l2: 1.0,
            threads,
            ..LogisticOptions::default()
        },
    )
    .expect("fit");
    println!(
        "microseg logistic fit {:>8.3} s  iterations {}",
        start.elapsed().as_secs_f64(),
        lr.iterations
    );
    let output = std::process::Command::new(&args[5])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../benches/peers/gbdt_worker.py"
        ))
        .arg(&path)
        .args([n, d, trees, leaves, threads].map(|v| v.to_string()))
        .output()
        .expect("run the Python peers");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
}
