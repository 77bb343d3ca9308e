//! The training half of `kmeans_vs_peers` (same rows, options and Python
//! peers) and the nearest-centroid kernel alone, a bench of the
//! `microseg-kernels` crate: no DataFusion, so it builds in seconds where
//! the release DataFusion build takes half an hour on a small machine:
//!
//! ```text
//! cargo bench -p microseg-kernels --bench kmeans_fit -- N D K ITERATIONS PYTHON KERNEL_ROWS
//! ```
//!
//! With `KMEANS_FIT_ROWS=/path.f32` (n × D little-endian f32, row-major,
//! e.g. the z-scored RFM features of issue 20), only the statement-shaped
//! fit runs, on those rows, REPEATS times (default 3), each with where its
//! time went (sort, seeding, first assignment, Lloyd per iteration), then
//! faiss on the same file when PYTHON has it:
//!
//! ```text
//! KMEANS_FIT_ROWS=/path.f32 cargo bench -p microseg-kernels --bench kmeans_fit -- D K ITERATIONS PYTHON [REPEATS]
//! ```
//!
//! Then `cluster_assign`'s kernel on the same rows with the fitted
//! centroids (rows, panels, f64 columns), against the measured FMA peak
//! (`KMEANS_FIT_ASSIGN=0` skips it, e.g. to profile the fit alone).
//!
//! Kernel figures come per wall-second and per CPU-second (from
//! /proc/self/stat), the latter meaningful when other work shares the cores.
//!
//! Two fits are timed: the harness's (seed 7, one run, `init` auto and
//! k-means++), and the fit as `CREATE MODEL … model_type 'kmeans'` runs it
//! on the rows it encoded (`statement_fit`), with and without its
//! brute-force Davies–Bouldin pass, on the process's kernel and on the row
//! kernel. `MICROSEG_KERNEL_PATH` / `MICROSEG_KERNEL_LAYOUT` force the
//! kernel (see `microseg_kernels::nearest::kernel`).

#![allow(dead_code)]

#[path = "bench_data.rs"]
mod bench_data;

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use microseg_kernels::kmeans::{FitProfile, Init, KMeansOptions, Rng, fit, fit_profiled, fit_with};
use microseg_kernels::metrics::davies_bouldin;
use microseg_kernels::nearest::{Centroids, Kernel, Layout, Nearest, Scale};

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

/// Argument `i` as a whole number, or exit with a usage error naming it.
fn whole_number(args: &[String], i: usize) -> usize {
    args[i].parse().unwrap_or_else(|_| {
        eprintln!("argument {i} must be a whole number, got {}", args[i]);
        std::process::exit(2)
    })
}

fn main() {
    // `cargo bench` adds `--bench`; it is not one of ours.
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if let Ok(path) = std::env::var("KMEANS_FIT_ROWS") {
        return real_rows(&path, &args);
    }
    if args.len() != 7 {
        eprintln!("usage: kmeans_fit N D K ITERATIONS PYTHON KERNEL_ROWS");
        std::process::exit(2);
    }
    let number = |i: usize| whole_number(&args, i);
    let (n, d, k, iterations, kernel_rows) =
        (number(1), number(2), number(3), number(4), number(6));
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let x = bench_data::data(n, d, k);
    // Cargo's scratch folder for benches, wherever `cargo bench` runs from.
    let path = format!("{}/kmeans-{n}x{d}-{k}.f32", env!("CARGO_TARGET_TMPDIR"));
    {
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&path).expect("write the rows"));
        for v in &x {
            file.write_all(&v.to_le_bytes()).expect("write data");
        }
    }
    println!(
        "data: {n} rows × {d} dims, {k} blobs + 10% noise; {threads} cores; kernel {} ({}); load average {}",
        Kernel::chosen(),
        Kernel::chosen().code(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    for init in [Init::Auto, Init::PlusPlus] {
        let options = KMeansOptions {
            k,
            max_iterations: iterations as u32,
            tolerance: 0.0,
            seed: 7,
            n_init: Some(1),
            threads,
            init,
            batch_size: None,
        };
        // fit sorts its rows (timed: it is part of training); a copy
        // keeps the timings below on the generated order.
        let mut rows = x.clone();
        let start = Instant::now();
        let model = fit(&mut rows, d, &options).expect("fit");
        drop(rows);
        let seconds = start.elapsed().as_secs_f64();
        let set = Centroids::new(&model.centroids, d);
        let mut found = vec![Nearest::default(); n];
        set.nearest(&x, &mut found);
        let inertia: f64 = found.iter().map(|f| f.dist).sum();
        println!(
            "microseg ({:<8}) {seconds:>8.3} s  inertia {inertia:.6e}  iterations {}",
            model.init.name(),
            model.iterations
        );
    }
    statement_fit(&x, d, k, iterations, threads);
    let output = std::process::Command::new(&args[5])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../benches/peers/kmeans_worker.py"
        ))
        .arg(&path)
        .args([n, d, k, iterations, threads].map(|v| v.to_string()))
        .output()
        .expect("run the Python peers");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if kernel_rows > 0 {
        kernel(kernel_rows, d, k, threads);
    }
}

/// The fit as `CREATE MODEL … OPTIONS (model_type 'kmeans', num_clusters
/// k, max_iterations, tolerance 0, seed 1)` runs it once its rows are
/// encoded (src/models/mod.rs): the check for k distinct rows, `fit` with
/// the statement's options (k-means|| at this size, n_init auto, every
/// core), then its metrics. Timed to the fit's Davies–Bouldin (from the
/// final assignment), and on to the brute-force f64 pass over at most a
/// million rows that the statement made before; on the process's kernel
/// and on the row kernel of the same path.
fn statement_fit(x: &[f32], d: usize, k: usize, iterations: usize, threads: usize) {
    let options = KMeansOptions {
        k,
        max_iterations: iterations as u32,
        tolerance: 0.0,
        seed: 1,
        n_init: None,
        threads,
        init: Init::Parallel,
        batch_size: None,
    };
    let chosen = Kernel::chosen();
    let mut kernels = vec![chosen];
    kernels.extend(Kernel::new(chosen.path(), Layout::Rows).filter(|&r| r != chosen));
    for kernel in kernels {
        let mut rows = x.to_vec();
        let start = Instant::now();
        let mut seen = HashSet::new();
        for row in rows.chunks_exact(d) {
            seen.insert(row.iter().map(|v| v.to_bits()).collect::<Vec<u32>>());
            if seen.len() >= k {
                break;
            }
        }
        drop(seen);
        let model = fit_with(&mut rows, d, &options, kernel).expect("fit");
        let fitted = start.elapsed().as_secs_f64();
        let db = model.davies_bouldin(d);
        let with_metrics = start.elapsed().as_secs_f64();
        let stride = rows.len().div_ceil(d).div_ceil(1_000_000).max(1);
        let encoded: Vec<f64> = rows
            .chunks_exact(d)
            .step_by(stride)
            .flat_map(|row| row.iter().map(|&v| f64::from(v)))
            .collect();
        let db_pass = davies_bouldin(&encoded, d, &model.centroids);
        let with_pass = start.elapsed().as_secs_f64();
        println!(
            "statement-shaped fit ({kernel}, {}): fit {fitted:.3} s; with metrics from the fit {with_metrics:.3} s; with the former Davies–Bouldin pass {with_pass:.3} s; inertia {:.6e}, Davies–Bouldin {db:.6} (pass {db_pass:.6}), iterations {}, n_init {}",
            kernel.code(),
            model.inertia,
            model.iterations,
            model.n_init
        );
    }
}

/// The statement-shaped fit on the rows of the file at `path`, timed phase
/// by phase, then faiss on the same file (`args`: D K ITERATIONS PYTHON
/// [REPEATS]).
fn real_rows(path: &str, args: &[String]) {
    if !(5..=6).contains(&args.len()) {
        eprintln!("usage: KMEANS_FIT_ROWS=/path.f32 kmeans_fit D K ITERATIONS PYTHON [REPEATS]");
        std::process::exit(2);
    }
    let number = |i: usize| whole_number(args, i);
    let (d, k, iterations) = (number(1), number(2), number(3));
    let repeats = if args.len() == 6 { number(5) } else { 3 };
    let bytes = std::fs::read(path).expect("read the rows");
    let x: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!(
        x.len().is_multiple_of(d) && !x.is_empty(),
        "{path}: not rows of {d} f32"
    );
    let n = x.len() / d;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    println!(
        "rows: {path}, {n} × {d}; k = {k}, {iterations} iterations; {threads} cores; kernel {} ({}); load average {}",
        Kernel::chosen(),
        Kernel::chosen().code(),
        load()
    );
    let options = KMeansOptions {
        k,
        max_iterations: iterations as u32,
        tolerance: 0.0,
        seed: 1,
        n_init: None,
        threads,
        init: Init::Auto,
        batch_size: None,
    };
    let mut centroids = Vec::new();
    for _ in 0..repeats {
        let mut rows = x.clone();
        let mut profile = FitProfile::default();
        let (cpu0, start) = (cpu_seconds(), Instant::now());
        let model =
            fit_profiled(&mut rows, d, &options, Kernel::chosen(), &mut profile).expect("fit");
        let (fitted, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let lloyd: f64 = profile.iterations.iter().map(|i| i.seconds).sum();
        let per_iteration: Vec<String> = profile
            .iterations
            .iter()
            .map(|i| {
                format!(
                    "{:.0}{}/{:.1}%",
                    i.seconds * 1e3,
                    if i.brute { "b" } else { "" },
                    100.0 * i.searched as f64 / n as f64
                )
            })
            .collect();
        println!(
            "statement-shaped fit ({}, init {}, n_init {}): {fitted:.3} s ({cpu:.2} CPU-s): sort {:.3}, seeding {:.3}, first assignment {:.3}, {} iterations {lloyd:.3} ({:.1} ms each), measure {:.3}; inertia {:.6e}; load average {}",
            Kernel::chosen().code(),
            model.init.name(),
            model.n_init,
            profile.sort,
            profile.seeding,
            profile.first_assignment,
            profile.iterations.len(),
            1e3 * lloyd / profile.iterations.len().max(1) as f64,
            profile.measure,
            model.inertia,
            load()
        );
        println!(
            "  per iteration (ms, b = brute force / points searched): {}",
            per_iteration.join(" ")
        );
        centroids = model.centroids;
    }
    // cluster_assign with the fitted model on the same rows (in the file's
    // order), as the kernel alone: ten copies of them, so each timing
    // spans many clock ticks of the CPU-second count.
    if !centroids.is_empty() && std::env::var("KMEANS_FIT_ASSIGN").as_deref() != Ok("0") {
        println!(
            "cluster_assign's kernel, these rows ×10 and the fitted centroids; load average {}",
            load()
        );
        let tiled = x.repeat(10);
        kernel_on(
            &tiled,
            &centroids,
            d,
            threads,
            &[("as they are", Scale::IDENTITY)],
        );
        println!("load average {}", load());
    }
    // faiss as issue 20 ran it: Kmeans(d, k, niter, max_points_per_centroid
    // = n) on every core, the train call timed, and the whole process.
    let script = format!(
        r#"
import os, sys, time
os.environ.setdefault("OMP_NUM_THREADS", "{threads}")
import numpy as np, faiss
faiss.omp_set_num_threads({threads})
x = np.fromfile(sys.argv[1], dtype="<f4").reshape(-1, {d})
km = faiss.Kmeans({d}, {k}, niter={iterations}, seed=1, verbose=False, max_points_per_centroid=len(x))
t = time.perf_counter(); km.train(x); s = time.perf_counter() - t
c = km.centroids.astype(np.float64); total = 0.0
for i in range(0, len(x), 100000):
    b = x[i:i + 100000].astype(np.float64)
    total += ((b[:, None, :] - c[None]) ** 2).sum(axis=2).min(axis=1).sum()
print(f"faiss {{faiss.__version__}}: train {{s:.3f}} s; inertia {{total:.6e}}")
"#
    );
    let start = Instant::now();
    match std::process::Command::new(&args[4])
        .args(["-c", &script, path])
        .output()
    {
        Ok(out) => {
            let process = start.elapsed().as_secs_f64();
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            println!(
                "faiss process (start, read, train, inertia) {process:.3} s; load average {}",
                load()
            );
        }
        Err(e) => eprintln!("{}: {e}", args[4]),
    }
}

/// The nearest-centroid kernel over `rows` uniform rows on every core, best
/// of 3, in both layouts (rows: what training uses; panels: what
/// `cluster_assign` uses where the CPU has AVX-512), against the measured
/// f32 FMA peak, the work counted as one FMA (2 flops) per dimension per
/// centroid.
fn kernel(rows: usize, d: usize, k: usize, threads: usize) {
    let mut rng = Rng::new(5);
    let points: Vec<f32> = (0..rows * d)
        .map(|_| (rng.next_f64() * 20.0 - 10.0) as f32)
        .collect();
    let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 16.0 - 8.0).collect();
    kernel_on(
        &points,
        &centroids,
        d,
        threads,
        &[
            ("as they are", Scale::IDENTITY),
            ("z-scored", Scale::z_score(0.5, 3.0)),
        ],
    );
}

/// [`kernel`] on given points (row-major) and centroids: `cluster_assign`'s
/// kernel from rows, from panels and from f64 columns (with each of
/// `scales` on every column), against the FMA peak measured here.
fn kernel_on(
    points: &[f32],
    centroids: &[f64],
    d: usize,
    threads: usize,
    scales: &[(&str, Scale)],
) {
    let (peak, isa) = bench_data::measured_peak(threads);
    let rows = points.len() / d;
    let k = centroids.len() / d;
    let set = Centroids::new(centroids, d);
    let work = rows as f64 * (k * d) as f64 * 2.0;
    for layout in [Layout::Rows, Layout::Panels] {
        let batch = 8192;
        let data: Vec<(usize, Vec<f32>)> = points
            .chunks(batch * d)
            .map(|rows| {
                let n = rows.len() / d;
                let mut out = vec![0.0f32; layout.len(n, d)];
                for (i, x) in rows.chunks_exact(d).enumerate() {
                    for (t, &v) in x.iter().enumerate() {
                        out[layout.place(i, t, d)] = v;
                    }
                }
                (n, out)
            })
            .collect();
        let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            let (cpu0, start) = (cpu_seconds(), Instant::now());
            std::thread::scope(|scope| {
                for part in data.chunks(data.len().div_ceil(threads).max(1)) {
                    let set = &set;
                    scope.spawn(move || {
                        let mut index = vec![0u32; batch];
                        for (n, block) in part {
                            set.assign(block, layout, *n, &mut index, None);
                        }
                    });
                }
            });
            wall = wall.min(start.elapsed().as_secs_f64());
            cpu = cpu.min(cpu_seconds() - cpu0);
        }
        println!(
            "kernel, {layout:?}: {rows} rows, k = {k}, d = {d}: best of 3 {wall:.3} s wall = {:.2} M rows/s = {:.1}% of the measured {:.0} GFLOP/s {isa} peak; per CPU-second {:.1}%",
            rows as f64 / wall / 1e6,
            100.0 * work / wall / peak,
            peak / 1e9,
            100.0 * work / cpu / (peak / threads as f64),
        );
    }
    // What cluster_assign sees: one f64 column per dimension in batches of
    // 8192 rows, first only read (the memory floor), then assigned.
    let batch = 8192;
    let columns: Vec<Vec<Vec<f64>>> = points
        .chunks(batch * d)
        .map(|rows| {
            (0..d)
                .map(|t| rows.chunks_exact(d).map(|x| f64::from(x[t])).collect())
                .collect()
        })
        .collect();
    let timed = |assign: bool, scales: &[Scale]| {
        let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            let (cpu0, start) = (cpu_seconds(), Instant::now());
            std::thread::scope(|scope| {
                for part in columns.chunks(columns.len().div_ceil(threads).max(1)) {
                    let set = &set;
                    scope.spawn(move || {
                        let mut index = vec![0u32; batch];
                        let mut sum = 0.0f64;
                        for batch in part {
                            let slices: Vec<&[f64]> = batch.iter().map(|c| &c[..]).collect();
                            if assign {
                                set.assign_columns(&slices, scales, &mut index, None);
                            } else {
                                sum += slices.iter().map(|c| c.iter().sum::<f64>()).sum::<f64>();
                            }
                        }
                        std::hint::black_box((sum, &index));
                    });
                }
            });
            wall = wall.min(start.elapsed().as_secs_f64());
            cpu = cpu.min(cpu_seconds() - cpu0);
        }
        (wall, cpu)
    };
    let (floor, _) = timed(false, &[]);
    println!(
        "memory floor: summing the {rows} rows' {d} f64 columns, best of 3 {floor:.3} s = {:.1} GB/s",
        (rows * d * 8) as f64 / floor / 1e9
    );
    for &(what, scale) in scales {
        let (wall, cpu) = timed(true, &vec![scale; d]);
        println!(
            "kernel from f64 columns {what}: best of 3 {wall:.3} s wall = {:.2} M rows/s = {:.1}% of the measured {:.0} GFLOP/s {isa} peak; per CPU-second {:.1}%",
            rows as f64 / wall / 1e6,
            100.0 * work / wall / peak,
            peak / 1e9,
            100.0 * work / cpu / (peak / threads as f64),
        );
    }
}
