//! `segment_of('set')` against the CASE expression an analyst would write
//! by hand, on the same rows, in the same engine, alternating runs.
//!
//! ```text
//! cargo bench --bench segment_of_vs_case -- [--lake bench-lake] [--runs 9]
//! ```
//!
//! The lake must exist (`cargo bench --bench rfm_vs_duckdb` or
//! `microseg generate` makes one); `orders` is the input (12.5 M rows at
//! 1 M customers). See `benches/README.md` for the figures.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use microseg::{Engine, EngineOptions};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// A set of five rules over three columns, like a real tiering.
const CREATE_SET: &str = "CREATE OR REPLACE SEGMENT SET bench_order_tiers (
  'big_app'     WHEN amount >= 200 AND channel = 'app',
  'big'         WHEN amount >= 200,
  'promo_heavy' WHEN discount >= 10 AND n_items >= 3,
  'store_small' WHEN channel = 'store' AND amount < 20,
  'multi'       WHEN n_items >= 5,
  ELSE 'other')";

/// What `segment_of('bench_order_tiers')` stands for, written by hand.
const HAND_CASE: &str = "CASE
  WHEN amount >= 200 AND channel = 'app' THEN 'big_app'
  WHEN amount >= 200 THEN 'big'
  WHEN discount >= 10 AND n_items >= 3 THEN 'promo_heavy'
  WHEN channel = 'store' AND amount < 20 THEN 'store_small'
  WHEN n_items >= 5 THEN 'multi'
  ELSE 'other' END";

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
    if let Err(e) = run(Args::parse()) {
        eprintln!("segment_of_vs_case: {e}");
        std::process::exit(1);
    }
}

/// Runs `sql` to completion.
async fn collect(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(engine.sql(sql).await?.collect().await?)
}

fn query(segment: &str) -> String {
    format!("SELECT {segment} AS segment, count(*) AS orders FROM orders GROUP BY 1 ORDER BY 1")
}

fn run(args: Args) -> Result<()> {
    let lake = std::path::absolute(&args.lake)?;
    if !lake.join("orders").is_dir() {
        return Err(format!(
            "no lake at {}: generate one first (cargo bench --bench rfm_vs_duckdb, or microseg generate)",
            lake.display()
        )
        .into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let engine = rt.block_on(Engine::open(
        lake.to_str().ok_or("lake path is not UTF-8")?,
        EngineOptions::default(),
    ))?;
    rt.block_on(collect(&engine, CREATE_SET))?;
    let variants = [
        ("segment_of", query("segment_of('bench_order_tiers')")),
        ("hand CASE", query(HAND_CASE)),
    ];
    let timed = |sql: &str| -> Result<(f64, Vec<RecordBatch>)> {
        let start = Instant::now();
        let batches = rt.block_on(collect(&engine, sql))?;
        Ok((start.elapsed().as_secs_f64(), batches))
    };
    // Warm-ups double as the check: both give the same counts.
    let results: Vec<String> = variants
        .iter()
        .map(|(_, sql)| Ok(pretty_format_batches(&timed(sql)?.1)?.to_string()))
        .collect::<Result<_>>()?;
    if results[0] != results[1] {
        return Err(format!("results differ:\n{}\n{}", results[0], results[1]).into());
    }
    println!("{}", results[0]);
    let mut times = [Vec::new(), Vec::new()];
    for run in 1..=args.runs {
        for (i, (_, sql)) in variants.iter().enumerate() {
            times[i].push(timed(sql)?.0);
        }
        println!(
            "run {run}: segment_of {:.3} s, hand CASE {:.3} s",
            times[0][run - 1],
            times[1][run - 1]
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut times[0]), median(&mut times[1]));
    println!(
        "medians: segment_of {a:.3} s, hand CASE {b:.3} s, ratio {:.3}",
        a / b
    );
    rt.block_on(collect(&engine, "DROP SEGMENT SET bench_order_tiers"))?;
    Ok(())
}
