//! BG/NBD fitting: microseg against lifetimes on the same customers.
//!
//! ```text
//! cargo bench --bench bgnbd_vs_lifetimes -- [--customers 1000000] [--python python3]
//! ```
//!
//! Customers are simulated from known parameters on a daily grid (as real
//! transaction summaries are: whole days), so identical (frequency,
//! recency, T) rows exist and are grouped, as CREATE MODEL groups them.
//! microseg's time covers grouping and the fit; lifetimes is timed on the
//! plain rows and, separately, on the same groups with weights.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use microseg_udfs::model::clv::fit_bgnbd;
use microseg_udfs::model::kmeans::Rng;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[derive(Debug, Parser)]
struct Args {
    /// Customers to simulate.
    #[arg(long, default_value_t = 1_000_000)]
    customers: usize,
    /// Python with lifetimes.
    #[arg(long, default_value = "python3")]
    python: String,
    /// `cargo bench` appends `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("bgnbd_vs_lifetimes: {e}");
        std::process::exit(1);
    }
}

/// Gamma(shape, 1) by Marsaglia–Tsang (shape < 1 boosted).
fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        return gamma(rng, shape + 1.0) * rng.next_f64().powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        // Box–Muller normal.
        let (u1, u2) = (rng.next_f64().max(1e-300), rng.next_f64());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let v = (1.0 + c * z).powi(3);
        if v > 0.0 && rng.next_f64().ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn run(args: Args) -> Result<()> {
    let (r, alpha, a, b) = (0.25, 4.0, 0.8, 2.5);
    let mut rng = Rng::new(99);
    let mut rows = Vec::with_capacity(args.customers);
    for _ in 0..args.customers {
        let lambda = gamma(&mut rng, r) / alpha;
        let (x1, x2) = (gamma(&mut rng, a), gamma(&mut rng, b));
        let p = x1 / (x1 + x2);
        let t_end = (30 + rng.below(700)) as f64;
        let (mut t, mut x, mut last) = (0.0, 0u32, 0.0);
        loop {
            t += -rng.next_f64().max(1e-300).ln() / lambda;
            if t > t_end {
                break;
            }
            x += 1;
            last = t.floor();
            if rng.next_f64() < p {
                break;
            }
        }
        rows.push((x, last, t_end));
    }
    let csv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bgnbd.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        writeln!(f, "frequency,recency,T")?;
        for (x, last, t) in &rows {
            writeln!(f, "{x},{last},{t}")?;
        }
    }
    let start = Instant::now();
    let mut groups: HashMap<(u32, u64, u64), f64> = HashMap::new();
    for &(x, last, t) in &rows {
        *groups.entry((x, last.to_bits(), t.to_bits())).or_default() += 1.0;
    }
    let data: Vec<(f64, f64, f64, f64)> = groups
        .iter()
        .map(|(&(x, l, t), &w)| (f64::from(x), f64::from_bits(l), f64::from_bits(t), w))
        .collect();
    let fit = fit_bgnbd(&data, 0.0);
    let ours = start.elapsed().as_secs_f64();
    println!(
        "{} customers, {} distinct (frequency, recency, T); true r, alpha, a, b = {r}, {alpha}, {a}, {b}",
        args.customers,
        data.len()
    );
    println!(
        "microseg   {ours:>8.3} s  params {:?}  ({} iterations, {} evaluations, gradient {:.1e}, converged {}, {} threads)",
        fit.params,
        fit.iterations,
        fit.evaluations,
        fit.gradient_norm,
        fit.converged,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let output = Command::new(&args.python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers/bgnbd_worker.py"))
        .arg(&csv)
        .output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
    }
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let plain = reply["seconds"].as_f64().unwrap_or(f64::NAN);
    let grouped = reply["seconds_grouped"].as_f64().unwrap_or(f64::NAN);
    println!(
        "lifetimes  {plain:>8.3} s  params {}  (microseg ÷ lifetimes = {:.3})",
        reply["params"],
        ours / plain
    );
    println!(
        "lifetimes, grouped with weights  {grouped:>8.3} s  params {}  (microseg ÷ that = {:.3})",
        reply["params_grouped"],
        ours / grouped
    );
    Ok(())
}
