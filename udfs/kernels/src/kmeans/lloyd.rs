//! The iterations: full-batch Lloyd with Hamerly's bounds, and Sculley's
//! mini-batch steps; both end with the sizes, inertia and Davies–Bouldin
//! spreads of the final assignment, counted without another search.

use super::*;
use crate::nearest::Scratch;

/// A worker's buffers, kept across the chunks it runs.
#[derive(Default)]
pub(super) struct Worker {
    scratch: Scratch,
    found: Vec<Nearest>,
    rescan: Vec<usize>,
    points: Vec<f32>,
}

impl Worker {
    /// The nearest centroids of `points` (row-major), in `self.found`.
    pub(super) fn search(&mut self, set: &Centroids, points: &[f32], d: usize) -> &[Nearest] {
        self.found.clear();
        self.found.resize(points.len() / d, Nearest::default());
        set.nearest_in(points, &mut self.found, &mut self.scratch);
        &self.found
    }

    /// Where a centroid of `set` is nearer to a point of `points` than
    /// its entry of `best` (distance, index): that one, as
    /// [`Centroids::nearer_in`] (indices from `offset`).
    pub(super) fn nearer(
        &mut self,
        set: &Centroids,
        points: &[f32],
        best: &mut [(f64, u32)],
        offset: u32,
    ) {
        set.nearer_in(points, best, offset, &mut self.scratch);
    }
}

/// Sculley's mini-batch k-means (2010). Each step draws `batch` points
/// (with replacement), assigns them to their nearest centroid, and moves
/// every centroid towards each of its new points with learning rate
/// 1 / (points it has received so far). Applied per centroid at once —
/// c ← c + (Σx − m·c) / seen — which is exactly Sculley's point-by-point
/// update, so the steps' assignments can run in parallel. Stops after
/// `max_iterations` steps, or when a step's summed squared centroid shift
/// is at most `tolerance`; sizes and inertia are then measured on all
/// points.
#[allow(clippy::too_many_arguments)]
pub(super) fn minibatch(
    data: &[f32],
    d: usize,
    mut centroids: Vec<f64>,
    options: &KMeansOptions,
    tolerance: f64,
    batch: usize,
    rng: &mut Rng,
    kernel: Kernel,
) -> KMeansFit {
    let n = data.len() / d;
    let k = options.k;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let batch = batch.clamp(1, n);
    let mut seen = vec![0u64; k];
    let mut sample = vec![0usize; batch];
    let mut points = vec![0.0f32; batch * d];
    let mut iterations = 0;
    let mut converged = false;
    while iterations < options.max_iterations {
        iterations += 1;
        for (s, x) in sample.iter_mut().zip(points.chunks_exact_mut(d)) {
            *s = rng.below(n);
            x.copy_from_slice(row(*s));
        }
        let set = Centroids::with_kernel(&centroids, d, kernel);
        let points = &points;
        let step = par_chunks_with(batch, options.threads, Worker::default, |w, range| {
            let chunk = &points[range.start * d..range.end * d];
            let mut part = ClusterSums::new(k, d);
            for (x, f) in chunk.chunks_exact(d).zip(w.search(&set, chunk, d)) {
                part.add(f.index as usize, x, 1.0);
            }
            part
        });
        let mut sums = ClusterSums::new(k, d);
        for part in &step {
            sums.merge(part);
        }
        let (sums, counts) = (sums.sums, sums.counts);
        let mut shift = 0.0;
        for j in 0..k {
            if counts[j] == 0 {
                continue;
            }
            seen[j] += counts[j];
            let rate = 1.0 / seen[j] as f64;
            let m = counts[j] as f64;
            for (c, s) in centroids[j * d..(j + 1) * d]
                .iter_mut()
                .zip(&sums[j * d..(j + 1) * d])
            {
                let step = (s - m * *c) * rate;
                *c += step;
                shift += step * step;
            }
        }
        if shift <= tolerance {
            converged = true;
            break;
        }
    }
    let set = Centroids::with_kernel(&centroids, d, kernel);
    let parts = par_chunks_with(n, options.threads, Worker::default, |w, range| {
        let chunk = &data[range.start * d..range.end * d];
        let mut part = Measure::new(k);
        for f in w.search(&set, chunk, d) {
            part.add(f.index, f.dist);
        }
        part
    });
    measured_fit(k, &parts, centroids, iterations, converged)
}

/// Sizes, inertia and Davies–Bouldin spreads of (a chunk of) an assignment.
pub(super) struct Measure {
    sizes: Vec<u64>,
    spread: Vec<f64>,
    inertia: f64,
}

impl Measure {
    fn new(k: usize) -> Self {
        Measure {
            sizes: vec![0; k],
            spread: vec![0.0; k],
            inertia: 0.0,
        }
    }

    /// A point of cluster `a` at squared distance `dist` from its centroid.
    fn add(&mut self, a: u32, dist: f64) {
        self.sizes[a as usize] += 1;
        self.spread[a as usize] += dist.sqrt();
        self.inertia += dist;
    }
}

/// The fit ending at `centroids`, its figures summed from each chunk's in
/// chunk order (the same bits on any number of threads).
fn measured_fit(
    k: usize,
    parts: &[Measure],
    centroids: Vec<f64>,
    iterations: u32,
    converged: bool,
) -> KMeansFit {
    let mut total = Measure::new(k);
    for part in parts {
        for j in 0..k {
            total.sizes[j] += part.sizes[j];
            total.spread[j] += part.spread[j];
        }
        total.inertia += part.inertia;
    }
    KMeansFit {
        centroids,
        sizes: total.sizes,
        spread: total.spread,
        inertia: total.inertia,
        iterations,
        converged,
        init: Init::PlusPlus,
        n_init: 1,
    }
}

/// Per-cluster coordinate sums and counts of an assignment.
pub(super) struct ClusterSums {
    sums: Vec<f64>,
    counts: Vec<u64>,
}

impl ClusterSums {
    pub(super) fn new(k: usize, d: usize) -> Self {
        ClusterSums {
            sums: vec![0.0; k * d],
            counts: vec![0; k],
        }
    }

    /// Adds (`sign` 1.0) or removes (−1.0) `point` from cluster `a`.
    pub(super) fn add(&mut self, a: usize, point: &[f32], sign: f64) {
        let d = point.len();
        if sign > 0.0 {
            self.counts[a] += 1;
        } else {
            self.counts[a] -= 1;
        }
        for (s, &x) in self.sums[a * d..(a + 1) * d].iter_mut().zip(point) {
            *s += sign * f64::from(x);
        }
    }

    /// Adds another part's sums and counts.
    fn merge(&mut self, part: &ClusterSums) {
        for (t, s) in self.sums.iter_mut().zip(&part.sums) {
            *t += s;
        }
        for (t, c) in self.counts.iter_mut().zip(&part.counts) {
            *t += c;
        }
    }
}

/// Lloyd's iterations from `centroids`, skipping with Hamerly's bounds the
/// points that cannot change cluster (see the module docs).
pub(super) fn lloyd_hamerly(
    data: &[f32],
    d: usize,
    mut centroids: Vec<f64>,
    options: &KMeansOptions,
    tolerance: f64,
    kernel: Kernel,
    profile: &mut Option<FitProfile>,
) -> KMeansFit {
    let n = data.len() / d;
    let k = options.k;
    let threads = options.threads;
    let mut clock = std::time::Instant::now();
    let mut lap = |profile: &mut Option<FitProfile>| {
        let now = std::time::Instant::now();
        let seconds = (now - clock).as_secs_f64();
        clock = now;
        if profile.is_some() { seconds } else { 0.0 }
    };
    let row = |i: usize| &data[i * d..(i + 1) * d];
    // Per point: assigned centroid, upper bound, lower bound.
    let mut state = vec![(0u32, 0.0f64, 0.0f64); n];
    // Cluster sums, kept current by moving only the points that change
    // cluster (late iterations move few).
    let mut totals = ClusterSums::new(k, d);
    {
        let set = Centroids::with_kernel(&centroids, d, kernel);
        let parts = par_chunks_mut_with(&mut state, threads, Worker::default, |w, start, chunk| {
            let points = &data[start * d..(start + chunk.len()) * d];
            let mut part = ClusterSums::new(k, d);
            for ((s, f), x) in chunk
                .iter_mut()
                .zip(w.search(&set, points, d))
                .zip(points.chunks_exact(d))
            {
                *s = (f.index, f.dist.sqrt(), f.second.sqrt());
                part.add(f.index as usize, x, 1.0);
            }
            part
        });
        for part in &parts {
            totals.merge(part);
        }
    }
    let seconds = lap(profile);
    if let Some(p) = profile.as_mut() {
        p.first_assignment += seconds;
        p.iterations.clear();
    }

    let mut iterations = 0;
    let mut converged = false;
    let mut moved = vec![0.0f64; k];
    let mut half_gap = vec![0.0f64; k];
    while iterations < options.max_iterations {
        iterations += 1;
        let mut shift = 0.0;
        for j in 0..k {
            moved[j] = 0.0;
            let count = totals.counts[j];
            if count == 0 {
                // An empty cluster keeps its centroid (it may win points back).
                continue;
            }
            let mut dist2 = 0.0;
            for (c, s) in centroids[j * d..(j + 1) * d]
                .iter_mut()
                .zip(&totals.sums[j * d..(j + 1) * d])
            {
                let new = s / count as f64;
                dist2 += (new - *c) * (new - *c);
                *c = new;
            }
            shift += dist2;
            moved[j] = dist2.sqrt();
        }
        let drift = Drift::new(&centroids, d, &moved, &mut half_gap);
        // Update bounds; points they do not settle are rescanned together.
        let set = Centroids::with_kernel(&centroids, d, kernel);
        let (centroids_ref, moved, half_gap, drift) = (&centroids, &moved, &half_gap, &drift);
        let moves = par_chunks_mut_with(&mut state, threads, Worker::default, |w, start, chunk| {
            w.rescan.clear();
            w.points.clear();
            for (offset, s) in chunk.iter_mut().enumerate() {
                let a = s.0 as usize;
                let lower = s.2;
                s.1 += moved[a];
                s.2 = drift.lower(a, lower, s.1);
                if s.1 > s.2.max(half_gap[a]) {
                    let x = row(start + offset);
                    s.1 = sq_dist(x, &centroids_ref[a * d..(a + 1) * d]).sqrt();
                    s.2 = drift.lower(a, lower, s.1);
                    if s.1 > s.2.max(half_gap[a]) {
                        w.rescan.push(offset);
                        w.points.extend_from_slice(x);
                    }
                }
            }
            let points = std::mem::take(&mut w.points);
            w.search(&set, &points, d);
            w.points = points;
            let mut moves = Vec::new();
            for (&offset, f) in w.rescan.iter().zip(&w.found) {
                let s = &mut chunk[offset];
                if f.index != s.0 {
                    moves.push((start + offset, s.0 as usize, f.index as usize));
                }
                *s = (f.index, f.dist.sqrt(), f.second.sqrt());
            }
            (w.rescan.len() as u64, moves)
        });
        let mut changed = 0u64;
        let mut searched = 0u64;
        for (count, part) in moves {
            searched += count;
            for (i, from, to) in part {
                changed += 1;
                totals.add(from, row(i), -1.0);
                totals.add(to, row(i), 1.0);
            }
        }
        let seconds = lap(profile);
        if let Some(p) = profile.as_mut() {
            p.iterations.push(IterationProfile {
                seconds,
                searched,
                moved: changed,
                brute: false,
            });
        }
        if changed == 0 || shift <= tolerance {
            converged = true;
            break;
        }
    }
    // The assignment is exact for the final centroids (each pass reassigns
    // after moving them), so sizes, inertia and spreads are measured
    // against them without another search.
    let (centroids_ref, state_ref) = (&centroids, &state);
    let parts = par_chunks(n, threads, |range| {
        let mut part = Measure::new(k);
        for i in range {
            let j = state_ref[i].0 as usize;
            part.add(
                state_ref[i].0,
                sq_dist(row(i), &centroids_ref[j * d..(j + 1) * d]),
            );
        }
        part
    });
    let seconds = lap(profile);
    if let Some(p) = profile.as_mut() {
        p.measure += seconds;
    }
    measured_fit(k, &parts, centroids, iterations, converged)
}

/// How far the centroids other than a point's own may have come towards
/// it, per centroid `a` a point can be assigned to: Hamerly's lower bound
/// `l` (on the distance to every centroid but `a`) shrinks by the largest
/// move of any centroid, which on heavy-tailed data is an outlying
/// cluster's, far from most points, moving a hundred times more than the
/// rest. So the other centroids are split by their distance to `a`: the
/// `m` nearest, which move by at most `drift` (their largest move), and
/// the others, at least `reach` from `a`, hence at least `reach − u` from
/// a point within `u` of `a` (triangle inequality). Each split gives a
/// lower bound `min(l − drift, reach − u)`; the best of [`SPLITS`] (m = 0,
/// 1, 3, 7, …, and all the others: Hamerly's own bound) is kept.
struct Drift {
    /// Per centroid, per split: the drift, then the reach.
    drift: Vec<[f64; SPLITS]>,
    reach: Vec<[f64; SPLITS]>,
}

/// Splits per centroid: m = 2^i − 1 nearest others for i < 7, then all;
/// unused ones (k ≤ 64) are made never to win.
const SPLITS: usize = 8;

impl Drift {
    /// The splits for `centroids` after moves `moved`, and each
    /// centroid's half distance to its nearest other one into `half_gap`.
    fn new(centroids: &[f64], d: usize, moved: &[f64], half_gap: &mut [f64]) -> Self {
        let k = moved.len();
        let mut drifts = vec![[f64::INFINITY; SPLITS]; k];
        let mut reaches = vec![[f64::NEG_INFINITY; SPLITS]; k];
        let mut others: Vec<(f64, f64)> = Vec::with_capacity(k);
        for a in 0..k {
            let ca = &centroids[a * d..(a + 1) * d];
            others.clear();
            others.extend((0..k).filter(|&j| j != a).map(|j| {
                (
                    sq_dist64(ca, &centroids[j * d..(j + 1) * d]).sqrt(),
                    moved[j],
                )
            }));
            others.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
            half_gap[a] = others.first().map_or(f64::INFINITY, |o| o.0 / 2.0);
            let mut drift = f64::NEG_INFINITY;
            let mut taken = 0;
            for i in 0..SPLITS {
                let m = if i + 1 == SPLITS {
                    others.len()
                } else {
                    ((1usize << i) - 1).min(others.len())
                };
                while taken < m {
                    drift = drift.max(others[taken].1);
                    taken += 1;
                }
                drifts[a][i] = drift;
                reaches[a][i] = others.get(m).map_or(f64::INFINITY, |o| o.0);
            }
        }
        Drift {
            drift: drifts,
            reach: reaches,
        }
    }

    /// The new lower bound of a point of cluster `a` whose lower bound was
    /// `lower` before the moves, and whose distance to `a` is now at most
    /// `upper`. Plain comparisons, so the splits go through vector lanes.
    #[inline]
    fn lower(&self, a: usize, lower: f64, upper: f64) -> f64 {
        let (drift, reach) = (&self.drift[a], &self.reach[a]);
        let mut each = [0.0f64; SPLITS];
        for i in 0..SPLITS {
            let (near, far) = (lower - drift[i], reach[i] - upper);
            each[i] = if near < far { near } else { far };
        }
        let mut half = [0.0f64; SPLITS / 2];
        for i in 0..SPLITS / 2 {
            let (x, y) = (each[i], each[i + SPLITS / 2]);
            half[i] = if x > y { x } else { y };
        }
        let (x, y) = (
            if half[0] > half[2] { half[0] } else { half[2] },
            if half[1] > half[3] { half[1] } else { half[3] },
        );
        if x > y { x } else { y }
    }
}
