//! k-means: microseg's trainer against scikit-learn and faiss on the same
//! rows, and `cluster_assign` throughput.
//!
//! ```text
//! cargo bench --bench kmeans_vs_peers -- [--n 1000000] [--d 8] [--k 64] [--iterations 20] \
//!     [--python python3] [--assign-rows 10000000]
//! ```
//!
//! The data: `k` Gaussian blobs in `d` dimensions plus 10% uniform noise,
//! from a fixed seed, written once as raw f32 for the Python peers. Every
//! trainer runs exactly `--iterations` Lloyd iterations (tolerance 0) after
//! its default seeding (k-means|| for microseg at this size, k-means++ for
//! scikit-learn, random sampling for faiss), timed around the fit alone.
//! See benches/README.md.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use microseg_udfs::model::kmeans::{Init, KMeansOptions, Rng, fit};
use microseg_udfs::model::{Feature, KMeansModel, MODEL_LITERAL_PREFIX};

#[path = "standalone/bench_data.rs"]
mod bench_data;
use bench_data::data;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[derive(Debug, Parser)]
struct Args {
    /// Rows.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Dimensions.
    #[arg(long, default_value_t = 8)]
    d: usize,
    /// Clusters.
    #[arg(long, default_value_t = 64)]
    k: usize,
    /// Lloyd iterations for every trainer.
    #[arg(long, default_value_t = 20)]
    iterations: u32,
    /// Python with scikit-learn and faiss-cpu.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Rows for the cluster_assign throughput run (0 skips it).
    #[arg(long, default_value_t = 10_000_000)]
    assign_rows: usize,
    /// `cargo bench` appends `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("kmeans_vs_peers: {e}");
        std::process::exit(1);
    }
}

fn inertia(x: &[f32], d: usize, centroids: &[f64]) -> f64 {
    x.chunks_exact(d)
        .map(|row| {
            let p: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
            microseg_udfs::model::kmeans::nearest(centroids, d, &p).1
        })
        .sum()
}

fn run(args: Args) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let x = data(args.n, args.d, args.k);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kmeans-{}x{}-{}.f32", args.n, args.d, args.k));
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for v in &x {
            file.write_all(&v.to_le_bytes())?;
        }
    }
    println!(
        "data: {} rows × {} dims, {} blobs + 10% noise ({} MiB f32); {threads} cores",
        args.n,
        args.d,
        args.k,
        x.len() * 4 / (1 << 20)
    );

    let options = KMeansOptions {
        k: args.k,
        max_iterations: args.iterations,
        tolerance: 0.0,
        seed: 7,
        n_init: 1,
        threads,
        init: Init::Auto,
        batch_size: None,
    };
    let start = Instant::now();
    let model = fit(&x, args.d, &options).map_err(|e| e.to_string())?;
    let ours = start.elapsed().as_secs_f64();
    let ours_inertia = inertia(&x, args.d, &model.centroids);
    println!(
        "microseg      {ours:>8.3} s  inertia {ours_inertia:.6e}  iterations {}",
        model.iterations
    );

    let output = Command::new(&args.python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers/kmeans_worker.py"))
        .arg(&path)
        .args([args.n, args.d, args.k, args.iterations as usize, threads].map(|v| v.to_string()))
        .output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
    }
    for line in String::from_utf8(output.stdout)?.lines() {
        let reply: serde_json::Value = serde_json::from_str(line)?;
        if let Some(error) = reply.get("error") {
            println!(
                "{:<13} unavailable: {error}",
                reply["peer"].as_str().unwrap_or("?")
            );
            continue;
        }
        let seconds = reply["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<13} {seconds:>8.3} s  inertia {:.6e}  iterations {}  ({} {})  microseg ÷ peer = {:.2}",
            reply["peer"].as_str().unwrap_or("?"),
            reply["inertia"].as_f64().unwrap_or(f64::NAN),
            reply["iterations"],
            reply["peer"].as_str().unwrap_or("?"),
            reply["version"].as_str().unwrap_or("?"),
            ours / seconds
        );
    }

    if args.assign_rows > 0 {
        assign_throughput(&args, &model.centroids, threads)?;
    }
    Ok(())
}

/// `cluster_assign` through DataFusion over an in-memory table: rows/s and
/// the share of the machine's floating-point peak reached, counted two ways:
/// the direct form's 3 flops per dimension per centroid against the AVX2-FMA
/// double-precision peak (the figure reported before the f32 kernel), and
/// the kernel's actual 2 (one f32 FMA) against the AVX2-FMA single-precision
/// peak it is compiled for.
fn assign_throughput(args: &Args, centroids: &[f64], threads: usize) -> Result<()> {
    let d = args.d;
    let features: Vec<Feature> = (0..d)
        .map(|j| Feature::Numeric {
            name: format!("c{j}"),
            mean: 0.0,
            std: 1.0,
            standardize: false,
        })
        .collect();
    let model = KMeansModel {
        label: "bench@1".into(),
        features,
        k: args.k,
        centroids: centroids.to_vec(),
        sizes: vec![0; args.k],
    };
    let literal = format!("{MODEL_LITERAL_PREFIX}{}", serde_json::to_string(&model)?);
    let schema = Arc::new(Schema::new(
        (0..d)
            .map(|j| Field::new(format!("c{j}"), DataType::Float64, false))
            .collect::<Vec<_>>(),
    ));
    let mut rng = Rng::new(5);
    let batch_rows = 8192;
    let mut partitions = vec![Vec::new(); threads];
    let mut made = 0;
    while made < args.assign_rows {
        let rows = batch_rows.min(args.assign_rows - made);
        let columns: Vec<ArrayRef> = (0..d)
            .map(|_| {
                Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|_| rng.next_f64() * 20.0 - 10.0),
                )) as ArrayRef
            })
            .collect();
        partitions[(made / batch_rows) % threads]
            .push(RecordBatch::try_new(Arc::clone(&schema), columns)?);
        made += rows;
    }
    let mut state = SessionContext::new().state();
    microseg_udfs::register_all(&mut state)?;
    let ctx = SessionContext::new_with_state(state);
    ctx.register_table("points", Arc::new(MemTable::try_new(schema, partitions)?))?;
    let columns: Vec<String> = (0..d).map(|j| format!("c{j}")).collect();
    let sql = format!(
        "SELECT sum(cluster_assign('{}', {})) FROM points",
        literal.replace('\'', "''"),
        columns.join(", ")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        rt.block_on(async { ctx.sql(&sql).await?.collect().await })?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let rows_per_s = args.assign_rows as f64 / best;
    let flops = args.assign_rows as f64 * args.k as f64 * d as f64 * 3.0 / best;
    let fma_flops = flops / 3.0 * 2.0;
    let mhz = bench_data::cpu_mhz();
    // AVX2 + FMA: two 4-wide (f64) or 8-wide (f32) FMA units per core.
    let peak = threads as f64 * mhz * 1e6 * 16.0;
    let peak32 = 2.0 * peak;
    println!(
        "cluster_assign: {} rows, k = {}, d = {d}: best of 3 {best:.3} s = {:.2} M rows/s; direct-form {:.2} GFLOP/s = {:.1}% of the {:.0} GFLOP/s f64 AVX2-FMA peak; kernel {:.2} GFLOP/s = {:.1}% of the {:.0} GFLOP/s f32 AVX2-FMA peak ({threads} cores at {mhz:.0} MHz)",
        args.assign_rows,
        args.k,
        rows_per_s / 1e6,
        flops / 1e9,
        100.0 * flops / peak,
        peak / 1e9,
        fma_flops / 1e9,
        100.0 * fma_flops / peak32,
        peak32 / 1e9
    );
    Ok(())
}
