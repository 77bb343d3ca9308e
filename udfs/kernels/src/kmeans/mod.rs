//! k-means: k-means++ or k-means|| seeding, then Lloyd iterations
//! accelerated with Hamerly's bounds (or Sculley's mini-batch updates when a
//! batch size is given), multi-threaded and deterministic for a given seed.
//!
//! Memory: the points (n × d × 4 bytes, owned by the caller) plus, one
//! after the other: 16 bytes per point while the rows are sorted (a key
//! and an index), 16 during k-means|| seeding (nearest candidate and its
//! squared distance), 24 during full-batch Lloyd (assignment, two f64
//! bounds); per thread, buffers for one chunk. At n = 100M, d = 8: 3.2 GB
//! of points + 2.4 GB.
//!
//! Points are stored row-major as `f32` (n × d × 4 bytes, the bulk of the
//! memory). Nearest centroids are picked by the blocked f32 kernel of
//! [`crate::nearest`], which confirms its winner in `f64`; every sum and
//! every distance kept is `f64`.
//!
//! Determinism: [`fit`] first sorts the rows into a canonical order (by
//! their coordinates), so the result depends on the multiset of rows and
//! the seed, not on the order a parallel query delivered them in. Work is
//! then cut into fixed-size chunks of points, whatever the number of
//! threads, and per-chunk partial sums are combined in chunk order, so the
//! same rows and seed give bit-identical centroids on any machine. Clusters
//! are numbered canonically too (centroids in ascending coordinate order),
//! and [`align_to`] renumbers a retrained model to match an earlier one.
//!
//! Hamerly (2010): each point keeps an upper bound `u` on the distance to
//! its centroid and a lower bound `l` on the distance to every other one.
//! A point whose `u` is at most `max(l, s/2)` (with `s` its centroid's
//! distance to the nearest other centroid) cannot change cluster and is
//! skipped; after centroids move by `p`, `u` grows by its centroid's move
//! and `l` shrinks by the largest move of a centroid near its own; the
//! centroids farther out are bounded by their distance to its centroid
//! less `u` instead (`lloyd::Drift`), so an outlying cluster that moves a
//! lot, as heavy-tailed data has, does not loosen every point's bound.
//! Late iterations skip almost every point, which is what makes large k
//! cheap.

use std::fmt;
use std::sync::Mutex;

use crate::nearest::{Centroids, Kernel, Nearest};

mod align;
mod lloyd;
mod order;
mod seed;

pub use align::{align_to, canonical_clusters, min_cost_assignment};
use lloyd::*;
#[cfg(test)]
use order::cmp_rows;
pub use order::{sort_rows, sort_rows_on};
use seed::*;

/// Points per unit of parallel work (fixed, for determinism).
const CHUNK: usize = 4096;

/// From this many points on, `Init::Auto` seeds with k-means||: greedy
/// k-means++ makes k × (2 + ln k) sequential passes over the data, k-means||
/// six, so past a couple of hundred thousand points the latter is cheaper
/// at a comparable final inertia.
pub const KMEANS_PARALLEL_FROM: usize = 200_000;

/// Oversampling rounds of k-means|| (Bahmani et al. find 5 enough).
const PARALLEL_ROUNDS: usize = 5;

/// How the first centroids are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// k-means|| from [`KMEANS_PARALLEL_FROM`] points on, else k-means++.
    Auto,
    /// Greedy k-means++.
    PlusPlus,
    /// k-means|| (Bahmani et al. 2012).
    Parallel,
}

impl Init {
    /// The seeding used for `n` points.
    pub fn resolve(self, n: usize) -> Init {
        match self {
            Init::Auto if n >= KMEANS_PARALLEL_FROM => Init::Parallel,
            Init::Auto => Init::PlusPlus,
            other => other,
        }
    }

    /// The option's SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            Init::Auto => "auto",
            Init::PlusPlus => "kmeans++",
            Init::Parallel => "kmeans||",
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansOptions {
    /// Number of clusters.
    pub k: usize,
    /// Most Lloyd iterations per run.
    pub max_iterations: u32,
    /// Convergence: stop when the summed squared centroid shift is at most
    /// `tolerance` × the mean per-dimension variance of the data (the
    /// scikit-learn rule).
    pub tolerance: f64,
    /// Random seed.
    pub seed: u64,
    /// Independent runs (seedings); the lowest inertia is kept. `None`
    /// chooses by the work one run costs, see [`auto_n_init`].
    pub n_init: Option<u32>,
    /// Worker threads (≥ 1).
    pub threads: usize,
    /// Seeding.
    pub init: Init,
    /// Mini-batch size (Sculley); `None` runs full-batch Lloyd. With a
    /// batch, `max_iterations` counts mini-batch steps, seeding runs on a
    /// sample of 3 batches, and a batch larger than n is clamped to n.
    pub batch_size: Option<usize>,
}

/// A trained model's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansFit {
    /// Row-major k × d centroids.
    pub centroids: Vec<f64>,
    /// Points per cluster.
    pub sizes: Vec<u64>,
    /// Per cluster, the summed (not squared) distance of its points to its
    /// centroid: with `sizes`, all Davies–Bouldin needs
    /// ([`KMeansFit::davies_bouldin`]).
    pub spread: Vec<f64>,
    /// Sum of squared distances of points to their centroid.
    pub inertia: f64,
    /// Lloyd iterations of the kept run.
    pub iterations: u32,
    /// Whether the kept run met the tolerance before max_iterations.
    pub converged: bool,
    /// The seeding used (never `Auto`).
    pub init: Init,
    /// Runs made (the resolved `n_init`).
    pub n_init: u32,
}

impl KMeansFit {
    /// The Davies–Bouldin index of the training rows under this fit (`d`
    /// dimensions), from the final assignment: no pass over the rows.
    pub fn davies_bouldin(&self, d: usize) -> f64 {
        crate::metrics::davies_bouldin_of(&self.spread, &self.sizes, d, &self.centroids)
    }
}

/// Where a fit's time went, phase by phase, in wall seconds: what
/// [`fit_profiled`] fills in (benches and diagnosis; the fit is the same).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitProfile {
    /// The canonical sort and the checks before it.
    pub sort: f64,
    /// Seeding (all runs).
    pub seeding: f64,
    /// The first full assignment to the seeds (all runs).
    pub first_assignment: f64,
    /// Each Lloyd iteration of the last run.
    pub iterations: Vec<IterationProfile>,
    /// Sizes, inertia and spreads of the final assignment (all runs).
    pub measure: f64,
}

/// One Lloyd iteration of a [`FitProfile`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IterationProfile {
    /// Wall seconds.
    pub seconds: f64,
    /// Points whose nearest centroid was searched (the others were
    /// settled by their bounds).
    pub searched: u64,
    /// Points that changed cluster.
    pub moved: u64,
    /// Whether the iteration searched every point without bounds.
    pub brute: bool,
}

/// Why training could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KMeansError(pub String);

impl fmt::Display for KMeansError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Squared distance of a stored point to a centroid, in f64.
pub(crate) fn sq_dist(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &c)| {
            let diff = f64::from(x) - c;
            diff * diff
        })
        .sum()
}

fn sq_dist64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest centroid of `point` and its squared distance.
pub fn nearest(centroids: &[f64], d: usize, point: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centroids.chunks_exact(d).enumerate() {
        let dist = sq_dist64(point, c);
        if dist < best.1 {
            best = (j, dist);
        }
    }
    best
}

/// Most runs an automatic `n_init` makes. On the generated customers
/// (400 rows, 6 features, k = 8) the best of 10 runs was up to 1.3% above
/// scikit-learn's best of 10 (depending on the seed), of 32 up to 0.6%:
/// small data has several Lloyd optima within a percent whose basins few
/// seedings reach. With 100, k = 4, 8 and 12 at four seeds all ended at or
/// below scikit-learn's inertia, and runs on data that small cost
/// milliseconds.
pub const AUTO_N_INIT_MAX: u32 = 100;

/// The work (rows × dimensions × clusters, summed over runs) an automatic
/// `n_init` may spend. One Lloyd pass costs about n·d·k multiply-adds, so
/// all runs together cost at most 2^28 of them per iteration, a fraction of
/// a second: small problems, where one run's luck moves the inertia by
/// several percent, get all the runs; large ones, where a run costs minutes
/// and varies less, fewer, down to one.
pub const AUTO_N_INIT_WORK: u64 = 1 << 28;

/// The runs `n_init 'auto'` makes for `n` rows of `d` dimensions and `k`
/// clusters: as many as [`AUTO_N_INIT_WORK`] allows, 1 to
/// [`AUTO_N_INIT_MAX`].
pub fn auto_n_init(n: usize, d: usize, k: usize) -> u32 {
    let work = (n as u64)
        .saturating_mul(d as u64)
        .saturating_mul(k as u64)
        .max(1);
    (AUTO_N_INIT_WORK / work).clamp(1, u64::from(AUTO_N_INIT_MAX)) as u32
}

/// Runs `f` over the fixed chunks of `n` points on `threads` threads and
/// returns the per-chunk results in chunk order.
fn par_chunks<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    par_chunks_with(n, threads, || (), |_, range| f(range))
}

/// [`par_chunks`] with a state per worker thread, made by `init` and
/// handed to each chunk the worker runs: buffers that outlive a chunk.
fn par_chunks_with<S, T: Send>(
    n: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    let chunks: Vec<std::ops::Range<usize>> = (0..n.div_ceil(CHUNK))
        .map(|c| c * CHUNK..((c + 1) * CHUNK).min(n))
        .collect();
    if threads <= 1 || chunks.len() <= 1 {
        let mut state = init();
        return chunks.into_iter().map(|c| f(&mut state, c)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = (0..chunks.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<T>>> =
        results.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(chunks.len()) {
            scope.spawn(|| {
                let mut state = init();
                loop {
                    let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if c >= chunks.len() {
                        break;
                    }
                    let value = f(&mut state, chunks[c].clone());
                    **slots[c].lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                }
            });
        }
    });
    drop(slots);
    results
        .into_iter()
        .map(|r| r.expect("every chunk ran"))
        .collect()
}

/// Trains k-means on `data` (n × d, row-major). The rows are first sorted
/// into canonical order ([`sort_rows_on`], which is why `data` is mutable), so
/// the fit depends only on which rows there are, not their order; the
/// clusters come back in canonical order (see [`canonical_clusters`]).
/// Values must be finite (NaN has no distance; callers refuse it), and
/// there must be at least k distinct rows (an error otherwise, worded as
/// `CREATE MODEL` words it). Searches with the process's kernel
/// ([`Kernel::chosen`]).
pub fn fit(data: &mut [f32], d: usize, options: &KMeansOptions) -> Result<KMeansFit, KMeansError> {
    fit_with(data, d, options, Kernel::chosen())
}

/// [`fit`] searching with `kernel`: the same fit on every kernel, bit for
/// bit (each search returns the exact `f64` nearest centroid).
pub fn fit_with(
    data: &mut [f32],
    d: usize,
    options: &KMeansOptions,
    kernel: Kernel,
) -> Result<KMeansFit, KMeansError> {
    fit_inner(data, d, options, kernel, &mut None)
}

/// [`fit_with`], also reporting where the time went into `profile`
/// (replaced): the same fit, bit for bit.
pub fn fit_profiled(
    data: &mut [f32],
    d: usize,
    options: &KMeansOptions,
    kernel: Kernel,
    profile: &mut FitProfile,
) -> Result<KMeansFit, KMeansError> {
    let mut slot = Some(FitProfile::default());
    let fit = fit_inner(data, d, options, kernel, &mut slot);
    *profile = slot.unwrap_or_default();
    fit
}

fn fit_inner(
    data: &mut [f32],
    d: usize,
    options: &KMeansOptions,
    kernel: Kernel,
    profile: &mut Option<FitProfile>,
) -> Result<KMeansFit, KMeansError> {
    let start = std::time::Instant::now();
    if d == 0 || !data.len().is_multiple_of(d) {
        return Err(KMeansError(format!(
            "{} values do not form rows of {d}",
            data.len()
        )));
    }
    let n = data.len() / d;
    if options.k < 1 || options.k > n {
        return Err(KMeansError(format!(
            "num_clusters must be between 1 and the number of rows ({n}), got {}",
            options.k
        )));
    }
    if options.batch_size == Some(0) {
        return Err(KMeansError("batch_size must be at least 1".into()));
    }
    if data.iter().any(|x| !x.is_finite()) {
        return Err(KMeansError(
            "the training values must be finite numbers (found NaN or infinity)".into(),
        ));
    }
    sort_rows_on(data, d, options.threads);
    let data: &[f32] = data;
    // Sorted, equal rows are neighbours: counting stops at k.
    let mut distinct = 1;
    let mut rows = data.chunks_exact(d);
    let mut last = rows.next().unwrap_or_default();
    for row in rows {
        if distinct >= options.k {
            break;
        }
        if row
            .iter()
            .zip(last)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            distinct += 1;
            last = row;
        }
    }
    if options.k > distinct {
        return Err(KMeansError(format!(
            "num_clusters {} is more than the {distinct} distinct rows of the training data",
            options.k
        )));
    }
    let variance_scale = mean_variance(data, d);
    let tolerance = options.tolerance * variance_scale;
    // Mini-batch seeds on a sample of 3 batches (at least 3k points), as
    // seeding on all of a very large n would cost more than the steps.
    let seed_rows = options
        .batch_size
        .map_or(n, |b| n.min(b.saturating_mul(3).max(3 * options.k)));
    let init = options.init.resolve(seed_rows);
    let mut rng = Rng::new(options.seed);
    let n_init = options
        .n_init
        .unwrap_or_else(|| auto_n_init(n, d, options.k))
        .max(1);
    if let Some(p) = profile.as_mut() {
        p.sort = start.elapsed().as_secs_f64();
    }
    let mut best: Option<KMeansFit> = None;
    for _ in 0..n_init {
        let run = match options.batch_size {
            None => {
                let start = std::time::Instant::now();
                let seeds = seed(data, d, options.k, init, &mut rng, options.threads, kernel);
                if let Some(p) = profile.as_mut() {
                    p.seeding += start.elapsed().as_secs_f64();
                }
                lloyd_hamerly(data, d, seeds, options, tolerance, kernel, profile)
            }
            Some(batch) => {
                let sample: Vec<f32> = sample_rows(n, seed_rows, &mut rng)
                    .into_iter()
                    .flat_map(|i| data[i * d..(i + 1) * d].iter().copied())
                    .collect();
                let seeds = seed(
                    &sample,
                    d,
                    options.k,
                    init,
                    &mut rng,
                    options.threads,
                    kernel,
                );
                minibatch(data, d, seeds, options, tolerance, batch, &mut rng, kernel)
            }
        };
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    let Some(best) = best else {
        return Err(KMeansError("n_init must be at least 1".into()));
    };
    Ok(canonical_clusters(
        KMeansFit {
            init,
            n_init,
            ..best
        },
        d,
    ))
}

fn mean_variance(data: &[f32], d: usize) -> f64 {
    let n = (data.len() / d) as f64;
    let mut mean = vec![0.0; d];
    for row in data.chunks_exact(d) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; d];
    for row in data.chunks_exact(d) {
        for ((v, &x), m) in var.iter_mut().zip(row).zip(&mean) {
            *v += (f64::from(x) - m).powi(2);
        }
    }
    var.iter().sum::<f64>() / n / d as f64
}

#[cfg(test)]
mod tests;
