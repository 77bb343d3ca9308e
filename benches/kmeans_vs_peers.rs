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
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use microseg_udfs::model::kmeans::{Init, KMeansOptions, Rng, fit};
use microseg_udfs::model::{Bound, ClusterAssign, Feature, Fitted, KMeansModel, ModelFunction};

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
    /// Cluster counts for the cluster_assign run: the trained model's k
    /// uses its centroids, others rows drawn from the data.
    #[arg(long, value_delimiter = ',', default_value = "64,1024")]
    assign_k: Vec<usize>,
    /// Only the cluster_assign run: no fit, no peers.
    #[arg(long)]
    assign_only: bool,
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

    if args.assign_only {
        return assign_throughput(&args, &x, None, threads);
    }
    let options = KMeansOptions {
        k: args.k,
        max_iterations: args.iterations,
        tolerance: 0.0,
        seed: 7,
        n_init: Some(1),
        threads,
        init: Init::Auto,
        batch_size: None,
    };
    // fit sorts its rows (timed: it is part of training); a copy keeps
    // the throughput runs below on the generated order.
    let mut rows = x.clone();
    let start = Instant::now();
    let model = fit(&mut rows, args.d, &options).map_err(|e| e.to_string())?;
    drop(rows);
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
        assign_throughput(&args, &x, Some(&model.centroids), threads)?;
    }
    Ok(())
}

/// `cluster_assign` through DataFusion over an in-memory table, for each
/// `--assign-k`: rows/s and the share of the machine's floating-point peak
/// reached. The work is counted as the kernel does it, one f32 FMA (2
/// flops) per dimension per centroid, and the peak is measured, not taken
/// from the nominal clock (turbo makes that wrong by half): a loop of
/// independent FMAs on the widest vectors the CPU has, on every core.
fn assign_throughput(
    args: &Args,
    x: &[f32],
    trained: Option<&[f64]>,
    threads: usize,
) -> Result<()> {
    let d = args.d;
    // The clock moves with the neighbours' load on a shared host: the peak
    // is measured before and after the runs and the higher one kept, which
    // can only understate the share reached.
    let (before, isa) = bench_data::measured_peak(threads);
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
    ctx.register_table(
        "points",
        Arc::new(MemTable::try_new(Arc::clone(&schema), partitions)?),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let n = x.len() / d;
    let columns: Vec<String> = (0..d).map(|j| format!("c{j}")).collect();
    let floor = best_of_3(
        &rt,
        &ctx,
        &format!("SELECT sum({}) FROM points", columns.join(" + ")),
    )?;
    println!(
        "scan floor: SELECT sum({}) over the same rows, best of 3 {floor:.3} s",
        columns.join(" + ")
    );
    let mut timings = Vec::new();
    for &k in &args.assign_k {
        let centroids: Vec<f64> = match trained {
            Some(c) if k == args.k => c.to_vec(),
            // Distinct rows: a repeated row would be a duplicated
            // centroid, which no trained model has and which makes every
            // point of its cell a tie.
            _ => {
                let mut picked = std::collections::BTreeSet::new();
                while picked.len() < k.min(n) {
                    picked.insert(rng.below(n));
                }
                picked
                    .iter()
                    .flat_map(|&i| x[i * d..(i + 1) * d].iter().map(|&v| f64::from(v)))
                    .collect()
            }
        };
        let model = KMeansModel {
            label: "bench@1".into(),
            features: (0..d)
                .map(|j| Feature::Numeric {
                    name: format!("c{j}"),
                    mean: 0.0,
                    std: 1.0,
                    standardize: false,
                })
                .collect(),
            k,
            centroids,
            sizes: vec![0; k],
        };
        // As the engine's analyzer does: the call bound to the model itself.
        let bound = ClusterAssign::assign().bind(vec![Bound(Arc::new(Fitted::kmeans(model)))])?;
        ctx.register_udf(ScalarUDF::new_from_impl(bound));
        let sql = format!(
            "SELECT sum(cluster_assign('bench', {})) FROM points",
            columns.join(", ")
        );
        let best = best_of_3(&rt, &ctx, &sql)?;
        let flops = args.assign_rows as f64 * k as f64 * d as f64 * 2.0 / best;
        timings.push((k, best, flops));
    }
    let (after, _) = bench_data::measured_peak(threads);
    let peak = before.max(after);
    println!(
        "measured f32 peak: {:.0} GFLOP/s before, {:.0} after ({isa} FMA loop on {threads} cores)",
        before / 1e9,
        after / 1e9
    );
    for (k, best, flops) in timings {
        println!(
            "cluster_assign: {} rows, k = {k}, d = {d}: best of 3 {best:.3} s = {:.2} M rows/s; {:.1} GFLOP/s = {:.1}% of the measured peak",
            args.assign_rows,
            args.assign_rows as f64 / best / 1e6,
            flops / 1e9,
            100.0 * flops / peak,
        );
    }
    Ok(())
}

/// The best wall time of three runs of `sql`.
fn best_of_3(rt: &tokio::runtime::Runtime, ctx: &SessionContext, sql: &str) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        rt.block_on(async { ctx.sql(sql).await?.collect().await })?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}
