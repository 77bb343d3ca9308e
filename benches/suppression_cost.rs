//! What query-time suppression costs: the same scans of `orders` with an
//! empty suppression list (no rewrite at all), with 1 forgotten customer
//! and with 1,000, alternating runs.
//!
//! ```text
//! cargo bench --bench suppression_cost -- [--lake bench-lake] [--runs 9]
//! ```
//!
//! The lake must exist (`microseg generate --customers 1000000`, or the
//! lake `cargo bench --bench rfm_vs_duckdb` makes). The list is written
//! straight into `_microseg/suppressed/` (no Delta table is touched) and
//! removed again at the end. See `benches/README.md` for the figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use microseg::{Engine, EngineOptions};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// A plain scan (no key in the query: the filter adds the column) and the
/// per-customer RFM aggregate.
const QUERIES: [(&str, &str); 2] = [
    ("scan", "SELECT count(*), sum(amount) FROM orders"),
    (
        "rfm aggregate",
        "SELECT count(*) FROM (SELECT customer_id, max(order_ts), count(*), sum(amount) \
         FROM orders GROUP BY customer_id)",
    ),
];

#[derive(Debug, Parser)]
struct Args {
    /// An existing generated lake.
    #[arg(long, default_value = "bench-lake")]
    lake: PathBuf,
    /// Timed runs per variant (after one warm-up each).
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// `cargo bench` appends `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let lake = std::path::absolute(&args.lake).unwrap_or(args.lake.clone());
    let result = run(&args, &lake);
    // The list this run made goes, whatever happened.
    let _ = std::fs::remove_dir_all(lake.join("_microseg/suppressed"));
    let _ = std::fs::remove_file(lake.join("_microseg/suppression_salt"));
    if let Err(e) = result {
        eprintln!("suppression_cost: {e}");
        std::process::exit(1);
    }
}

async fn collect(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(engine.sql(sql).await?.collect().await?)
}

fn run(args: &Args, lake: &Path) -> Result<()> {
    if !lake.join("orders").is_dir() {
        return Err(format!("no lake at {}: generate one first", lake.display()).into());
    }
    if lake.join("_microseg/suppressed").exists() {
        return Err(
            "the lake already has a suppression list: use a lake nobody was forgotten in".into(),
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let engine = rt.block_on(Engine::open(
        lake.to_str().ok_or("lake path is not UTF-8")?,
        EngineOptions::default(),
    ))?;
    let timed = |sql: &str| -> Result<(f64, String)> {
        let start = Instant::now();
        let batches = rt.block_on(collect(&engine, sql))?;
        Ok((
            start.elapsed().as_secs_f64(),
            pretty_format_batches(&batches)?.to_string(),
        ))
    };
    // Forgotten: every 1000th customer id (ids are 1..=n), the first alone
    // for the one-person list.
    let lists: [(&str, usize); 3] = [
        ("empty list", 0),
        ("1 forgotten", 1),
        ("1000 forgotten", 1000),
    ];
    for (query_name, sql) in QUERIES {
        let mut times = vec![Vec::new(); lists.len()];
        let mut answers = Vec::new();
        for (i, (_, n)) in lists.iter().enumerate() {
            set_list(&rt, &engine, lake, *n)?;
            answers.push(timed(sql)?.1);
            for _ in 0..args.runs {
                times[i].push(timed(sql)?.0);
            }
        }
        println!("{query_name}: {sql}");
        for ((name, _), answer) in lists.iter().zip(&answers) {
            println!("  {name}:\n{answer}");
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let base = median(&mut times[0].clone());
        for (i, (name, _)) in lists.iter().enumerate() {
            let m = median(&mut times[i]);
            println!(
                "  {name}: median {m:.3} s ({:.2}x the empty list)",
                m / base
            );
        }
    }
    Ok(())
}

/// Makes the list hold `n` customers (ids 1000, 2000, …) and refreshes the engine.
fn set_list(rt: &tokio::runtime::Runtime, engine: &Engine, lake: &Path, n: usize) -> Result<()> {
    let _ = std::fs::remove_dir_all(lake.join("_microseg/suppressed"));
    rt.block_on(async {
        for k in 1..=n {
            let id = (k * 1000).to_string();
            engine
                .catalog()
                .suppress(id.as_bytes(), Some("benchmark"))
                .await?;
        }
        engine.refresh_catalog().await
    })?;
    Ok(())
}
