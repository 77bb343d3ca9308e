//! k-means: greedy k-means++ seeding and Lloyd iterations accelerated with
//! Hamerly's bounds, multi-threaded and deterministic for a given seed.
//!
//! Points are stored row-major as `f32` (n × d × 4 bytes, the bulk of the
//! memory); every sum and distance is computed in `f64`.
//!
//! Determinism: work is cut into fixed-size chunks of points, whatever the
//! number of threads, and per-chunk partial sums are combined in chunk
//! order, so the same data and seed give bit-identical centroids on any
//! machine.
//!
//! Hamerly (2010): each point keeps an upper bound `u` on the distance to
//! its centroid and a lower bound `l` on the distance to every other one.
//! A point whose `u` is at most `max(l, s/2)` (with `s` its centroid's
//! distance to the nearest other centroid) cannot change cluster and is
//! skipped; after centroids move by `p`, `u` grows by its centroid's move
//! and `l` shrinks by the largest move. Late iterations skip almost every
//! point, which is what makes large k cheap.

use std::fmt;

/// Points per unit of parallel work (fixed, for determinism).
const CHUNK: usize = 4096;

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
    /// Independent runs (seedings); the lowest inertia is kept.
    pub n_init: u32,
    /// Worker threads (≥ 1).
    pub threads: usize,
}

/// A trained model's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansFit {
    /// Row-major k × d centroids.
    pub centroids: Vec<f64>,
    /// Points per cluster.
    pub sizes: Vec<u64>,
    /// Sum of squared distances of points to their centroid.
    pub inertia: f64,
    /// Lloyd iterations of the kept run.
    pub iterations: u32,
    /// Whether the kept run met the tolerance before max_iterations.
    pub converged: bool,
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

fn sq_dist(a: &[f32], b: &[f64]) -> f64 {
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

/// Runs `f` over the fixed chunks of `n` points on `threads` threads and
/// returns the per-chunk results in chunk order.
fn par_chunks<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    let chunks: Vec<std::ops::Range<usize>> = (0..n.div_ceil(CHUNK))
        .map(|c| c * CHUNK..((c + 1) * CHUNK).min(n))
        .collect();
    if threads <= 1 || chunks.len() <= 1 {
        return chunks.into_iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<T>> = (0..chunks.len()).map(|_| None).collect();
    let slots: Vec<std::sync::Mutex<&mut Option<T>>> =
        results.iter_mut().map(std::sync::Mutex::new).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(chunks.len()) {
            scope.spawn(|| {
                loop {
                    let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if c >= chunks.len() {
                        break;
                    }
                    let value = f(chunks[c].clone());
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

/// Trains k-means on `data` (n × d, row-major).
pub fn fit(data: &[f32], d: usize, options: &KMeansOptions) -> Result<KMeansFit, KMeansError> {
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
    let variance_scale = mean_variance(data, d);
    let tolerance = options.tolerance * variance_scale;
    let mut rng = Rng::new(options.seed);
    let mut best: Option<KMeansFit> = None;
    for _ in 0..options.n_init.max(1) {
        let seeds = kmeans_plus_plus(data, d, options.k, &mut rng, options.threads);
        let run = lloyd_hamerly(data, d, seeds, options, tolerance);
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    Ok(best.expect("at least one run"))
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

/// Greedy k-means++ (Arthur & Vassilvitskii 2007, with the greedy trials
/// scikit-learn also uses): each new centroid is the best of
/// 2 + ln(k) candidates drawn with probability ∝ squared distance.
fn kmeans_plus_plus(data: &[f32], d: usize, k: usize, rng: &mut Rng, threads: usize) -> Vec<f64> {
    let n = data.len() / d;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let to64 = |r: &[f32]| r.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let mut centroids = to64(row(rng.below(n)));
    let first = centroids.clone();
    let mut closest: Vec<f64> = par_chunks(n, threads, |range| {
        range.map(|i| sq_dist(row(i), &first)).collect::<Vec<_>>()
    })
    .concat();
    let trials = 2 + (k as f64).ln().floor() as usize;
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        let candidates: Vec<usize> = (0..trials)
            .map(|_| {
                if total <= 0.0 {
                    return rng.below(n);
                }
                let target = rng.next_f64() * total;
                let mut acc = 0.0;
                closest
                    .iter()
                    .position(|&c| {
                        acc += c;
                        acc > target
                    })
                    .unwrap_or(n - 1)
            })
            .collect();
        // The candidate that lowers the total squared distance most wins.
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for &cand in &candidates {
            let c = to64(row(cand));
            let updated: Vec<f64> = par_chunks(n, threads, |range| {
                range
                    .map(|i| closest[i].min(sq_dist(row(i), &c)))
                    .collect::<Vec<_>>()
            })
            .concat();
            let cost: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, cand, updated));
            }
        }
        let (_, cand, updated) = best.expect("at least one candidate");
        centroids.extend(to64(row(cand)));
        closest = updated;
    }
    centroids
}

struct ChunkSums {
    sums: Vec<f64>,
    counts: Vec<u64>,
}

fn lloyd_hamerly(
    data: &[f32],
    d: usize,
    mut centroids: Vec<f64>,
    options: &KMeansOptions,
    tolerance: f64,
) -> KMeansFit {
    let n = data.len() / d;
    let k = options.k;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    // Per point: assigned centroid, upper bound, lower bound.
    let mut assign = vec![0u32; n];
    let mut upper = vec![f64::INFINITY; n];
    let mut lower = vec![0.0f64; n];

    // Exact first assignment.
    {
        let parts = par_chunks(n, options.threads, |range| {
            range
                .map(|i| {
                    let mut best = (0usize, f64::INFINITY);
                    let mut second = f64::INFINITY;
                    for (j, c) in centroids.chunks_exact(d).enumerate() {
                        let dist = sq_dist(row(i), c);
                        if dist < best.1 {
                            second = best.1;
                            best = (j, dist);
                        } else if dist < second {
                            second = dist;
                        }
                    }
                    (best.0 as u32, best.1.sqrt(), second.sqrt())
                })
                .collect::<Vec<_>>()
        });
        for (i, (a, u, l)) in parts.into_iter().flatten().enumerate() {
            assign[i] = a;
            upper[i] = u;
            lower[i] = l;
        }
    }

    let mut iterations = 0;
    let mut converged = false;
    while iterations < options.max_iterations {
        iterations += 1;
        // New centroids from the current assignment.
        let sums = par_chunks(n, options.threads, |range| {
            let mut part = ChunkSums {
                sums: vec![0.0; k * d],
                counts: vec![0; k],
            };
            for i in range {
                let a = assign[i] as usize;
                part.counts[a] += 1;
                for (s, &x) in part.sums[a * d..(a + 1) * d].iter_mut().zip(row(i)) {
                    *s += f64::from(x);
                }
            }
            part
        });
        let mut total = vec![0.0; k * d];
        let mut counts = vec![0u64; k];
        for part in &sums {
            for (t, s) in total.iter_mut().zip(&part.sums) {
                *t += s;
            }
            for (t, c) in counts.iter_mut().zip(&part.counts) {
                *t += c;
            }
        }
        let mut moved = vec![0.0f64; k];
        let mut shift = 0.0;
        for j in 0..k {
            if counts[j] == 0 {
                // An empty cluster keeps its centroid (it may win points back).
                continue;
            }
            let new: Vec<f64> = total[j * d..(j + 1) * d]
                .iter()
                .map(|s| s / counts[j] as f64)
                .collect();
            let dist2 = sq_dist64(&new, &centroids[j * d..(j + 1) * d]);
            shift += dist2;
            moved[j] = dist2.sqrt();
            centroids[j * d..(j + 1) * d].copy_from_slice(&new);
        }
        let max_moved = moved.iter().cloned().fold(0.0, f64::max);
        // Half the distance from each centroid to its nearest other one.
        let half_gap: Vec<f64> = (0..k)
            .map(|j| {
                let cj = &centroids[j * d..(j + 1) * d];
                (0..k)
                    .filter(|&o| o != j)
                    .map(|o| sq_dist64(cj, &centroids[o * d..(o + 1) * d]))
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
                    / 2.0
            })
            .collect();
        // Update bounds and reassign where they do not rule a change out.
        let centroids_ref = &centroids;
        let assign_ref = &assign;
        let upper_ref = &upper;
        let lower_ref = &lower;
        let parts = par_chunks(n, options.threads, |range| {
            range
                .map(|i| {
                    let mut a = assign_ref[i] as usize;
                    let mut u = upper_ref[i] + moved[a];
                    let mut l = lower_ref[i] - max_moved;
                    let bound = l.max(half_gap[a]);
                    if u > bound {
                        u = sq_dist(row(i), &centroids_ref[a * d..(a + 1) * d]).sqrt();
                        if u > bound {
                            let mut best = (a, u * u);
                            let mut second = f64::INFINITY;
                            for (j, c) in centroids_ref.chunks_exact(d).enumerate() {
                                if j == a {
                                    continue;
                                }
                                let dist = sq_dist(row(i), c);
                                if dist < best.1 || (dist == best.1 && j < best.0) {
                                    second = second.min(best.1);
                                    best = (j, dist);
                                } else if dist < second {
                                    second = dist;
                                }
                            }
                            a = best.0;
                            u = best.1.sqrt();
                            l = second.sqrt();
                        }
                    }
                    (a as u32, u, l)
                })
                .collect::<Vec<_>>()
        });
        let mut changed = 0u64;
        for (i, (a, u, l)) in parts.into_iter().flatten().enumerate() {
            if assign[i] != a {
                changed += 1;
            }
            assign[i] = a;
            upper[i] = u;
            lower[i] = l;
        }
        if changed == 0 || shift <= tolerance {
            converged = true;
            break;
        }
    }
    // The assignment is exact for the final centroids (each pass reassigns
    // after moving them), so sizes and inertia are measured against them.
    let parts = par_chunks(n, options.threads, |range| {
        let mut counts = vec![0u64; k];
        let mut inertia = 0.0;
        for i in range {
            let a = assign[i] as usize;
            counts[a] += 1;
            inertia += sq_dist(row(i), &centroids[a * d..(a + 1) * d]);
        }
        (counts, inertia)
    });
    let mut sizes = vec![0u64; k];
    let mut inertia = 0.0;
    for (counts, part_inertia) in &parts {
        for (s, c) in sizes.iter_mut().zip(counts) {
            *s += c;
        }
        inertia += part_inertia;
    }
    KMeansFit {
        centroids,
        sizes,
        inertia,
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(k: usize, threads: usize) -> KMeansOptions {
        KMeansOptions {
            k,
            max_iterations: 100,
            tolerance: 1e-6,
            seed: 7,
            n_init: 1,
            threads,
        }
    }

    /// Three tight, far-apart blobs: any sane k-means finds them exactly.
    fn blobs(per: usize) -> Vec<f32> {
        let mut rng = Rng::new(1);
        let centres = [(0.0, 0.0), (10.0, 10.0), (-10.0, 10.0)];
        let mut data = Vec::new();
        for (cx, cy) in centres {
            for _ in 0..per {
                data.push(cx + (rng.next_f64() - 0.5) as f32);
                data.push(cy + (rng.next_f64() - 0.5) as f32);
            }
        }
        data
    }

    #[test]
    fn finds_separated_blobs() {
        let data = blobs(300);
        let fit = fit(&data, 2, &options(3, 2)).unwrap();
        assert!(fit.converged);
        let mut sizes = fit.sizes.clone();
        sizes.sort();
        assert_eq!(sizes, [300, 300, 300]);
        let mut centres: Vec<(i64, i64)> = fit
            .centroids
            .chunks(2)
            .map(|c| (c[0].round() as i64, c[1].round() as i64))
            .collect();
        centres.sort();
        assert_eq!(centres, [(-10, 10), (0, 0), (10, 10)]);
    }

    /// The accelerated iterations must end where plain Lloyd ends: compare
    /// with a brute-force Lloyd from the same seeds.
    #[test]
    fn hamerly_matches_plain_lloyd() {
        let mut rng = Rng::new(3);
        let data: Vec<f32> = (0..5000 * 3).map(|_| rng.next_f64() as f32).collect();
        let d = 3;
        let k = 12;
        let opts = KMeansOptions {
            tolerance: 0.0,
            max_iterations: 300,
            ..options(k, 2)
        };
        let seeds = kmeans_plus_plus(&data, d, k, &mut Rng::new(opts.seed), 1);
        let fast = lloyd_hamerly(&data, d, seeds.clone(), &opts, 0.0);
        // Plain Lloyd.
        let mut c = seeds;
        let n = data.len() / d;
        let mut assign = vec![usize::MAX; n];
        for _ in 0..300 {
            let mut changed = false;
            for i in 0..n {
                let p: Vec<f64> = data[i * d..(i + 1) * d]
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect();
                let (j, _) = nearest(&c, d, &p);
                if assign[i] != j {
                    assign[i] = j;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0.0; k];
            for i in 0..n {
                counts[assign[i]] += 1.0;
                for t in 0..d {
                    sums[assign[i] * d + t] += f64::from(data[i * d + t]);
                }
            }
            for j in 0..k {
                if counts[j] > 0.0 {
                    for t in 0..d {
                        c[j * d + t] = sums[j * d + t] / counts[j];
                    }
                }
            }
        }
        let slow_inertia: f64 = (0..n)
            .map(|i| {
                let p: Vec<f64> = data[i * d..(i + 1) * d]
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect();
                nearest(&c, d, &p).1
            })
            .sum();
        assert!(fast.converged);
        assert!(
            (fast.inertia - slow_inertia).abs() <= 1e-9 * slow_inertia,
            "{} vs {}",
            fast.inertia,
            slow_inertia
        );
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let mut rng = Rng::new(9);
        let data: Vec<f32> = (0..20_000 * 2).map(|_| rng.next_f64() as f32).collect();
        let one = fit(&data, 2, &options(8, 1)).unwrap();
        let two = fit(&data, 2, &options(8, 2)).unwrap();
        assert_eq!(one, two);
    }

    #[test]
    fn bad_k_is_an_error() {
        let data = blobs(2);
        assert!(
            fit(&data, 2, &options(7, 1))
                .unwrap_err()
                .0
                .contains("between 1 and the number of rows (6)")
        );
        assert!(fit(&data, 2, &options(0, 1)).is_err());
    }
}
