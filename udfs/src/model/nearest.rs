//! Nearest-centroid search for many points at once: the hot loop of k-means
//! training and of `cluster_assign`.
//!
//! Distances are first computed in `f32` as ‖c‖² − 2x·c (‖x‖² is the same
//! for every centroid), eight centroids per vector and four points per pass
//! so the loads of a centroid block serve four points: fused multiply-adds
//! only, which the compiler turns into 8-wide vector FMAs (AVX2 + FMA chosen
//! at run time on x86-64; everywhere else the portable build of the same
//! code). `f32::mul_add` is one correctly rounded operation on every path,
//! so results are bit-identical with or without the vector units.
//!
//! The expanded form cancels badly when points are far from the origin, so
//! it only *selects*: with a bound on its rounding error (see [`margin`]),
//! the winner is accepted when no other centroid is within twice the bound,
//! and its distance is then recomputed exactly in `f64`; near ties (rare)
//! rescan every centroid in `f64`. The index returned is therefore exactly
//! the `f64` nearest centroid (ties to the lower index), and the second
//! distance a guaranteed lower bound, as Hamerly's bounds require.

use super::kmeans::sq_dist;

/// Centroids per vector.
const LANES: usize = 8;
/// Points per pass over the centroids.
const POINTS: usize = 4;

/// Centroids laid out for [`Centroids::nearest`].
#[derive(Debug, Clone)]
pub struct Centroids {
    d: usize,
    k: usize,
    /// Per block of `LANES` centroids, dimension-major: −2·c as f32 (0 past k).
    neg2: Vec<f32>,
    /// ‖c‖² per centroid, +∞ past k (never chosen).
    norms: Vec<f32>,
    /// The centroids as given, for the exact distances.
    exact: Vec<f64>,
    /// The largest ‖c‖², for the rounding bound.
    max_norm: f64,
}

/// One point's nearest centroid.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Nearest {
    /// Index of the nearest centroid (lowest on ties).
    pub index: u32,
    /// Its squared distance, exact to `f64` rounding.
    pub dist: f64,
    /// A lower bound on the squared distance to every other centroid
    /// (+∞ when k = 1).
    pub second: f64,
}

/// The bound on the rounding error of a squared distance computed in
/// `f32` by the expanded form, for a point with ‖x‖² = `xn`: the dot
/// product and norms carry at most (d + 2) roundings each of ‖x‖² + ‖c‖²
/// (Cauchy–Schwarz bounds 2|x·c| by it), the f32 copy of the centroid one
/// more; doubled for safety.
fn margin(d: usize, xn: f64, max_norm: f64) -> f64 {
    (2 * d + 16) as f64 * f64::from(f32::EPSILON) * (xn + max_norm)
}

impl Centroids {
    /// Lays out `centroids` (row-major k × d).
    pub fn new(centroids: &[f64], d: usize) -> Self {
        let k = centroids.len() / d.max(1);
        let blocks = k.div_ceil(LANES);
        let mut neg2 = vec![0.0f32; blocks * LANES * d];
        let mut norms = vec![f32::INFINITY; blocks * LANES];
        let mut max_norm = 0.0f64;
        for (j, c) in centroids.chunks_exact(d).enumerate() {
            let (b, l) = (j / LANES, j % LANES);
            let mut norm = 0.0f64;
            for (t, &v) in c.iter().enumerate() {
                let v32 = v as f32;
                neg2[(b * d + t) * LANES + l] = -2.0 * v32;
                norm += f64::from(v32) * f64::from(v32);
            }
            norms[j] = norm as f32;
            max_norm = max_norm.max(norm.max(c.iter().map(|v| v * v).sum()));
        }
        Centroids {
            d,
            k,
            neg2,
            norms,
            exact: centroids.to_vec(),
            max_norm,
        }
    }

    /// Number of centroids.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// The nearest centroid of each point of `points` (row-major, d wide)
    /// into `out` (one per point).
    pub fn nearest(&self, points: &[f32], out: &mut [Nearest]) {
        let d = self.d;
        debug_assert_eq!(points.len(), out.len() * d);
        if self.k == 0 {
            return;
        }
        let mut approx = vec![(0u32, 0.0f32, 0.0f32); out.len()];
        approx_scan(self, points, &mut approx);
        for ((x, o), &(index, best, second)) in
            points.chunks_exact(d).zip(out.iter_mut()).zip(&approx)
        {
            let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let slack = margin(d, xn, self.max_norm);
            let (best, second) = (xn + f64::from(best), xn + f64::from(second));
            *o = if second - best > 2.0 * slack {
                let j = index as usize;
                Nearest {
                    index,
                    dist: sq_dist(x, &self.exact[j * d..(j + 1) * d]),
                    second: (second - slack).max(0.0),
                }
            } else {
                self.exact_nearest(x)
            };
        }
    }

    /// The nearest centroid by a full `f64` scan (near ties, k small).
    pub fn exact_nearest(&self, x: &[f32]) -> Nearest {
        let mut best = (0usize, f64::INFINITY);
        let mut second = f64::INFINITY;
        for (j, c) in self.exact.chunks_exact(self.d).enumerate() {
            let dist = sq_dist(x, c);
            if dist < best.1 {
                second = best.1;
                best = (j, dist);
            } else if dist < second {
                second = dist;
            }
        }
        Nearest {
            index: best.0 as u32,
            dist: best.1,
            second,
        }
    }
}

/// Per point: (index, ‖c‖² − 2x·c of the best, of the second best), in f32.
fn approx_scan(c: &Centroids, points: &[f32], out: &mut [(u32, f32, f32)]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { approx_scan_avx2(c, points, out) };
            return;
        }
    }
    approx_scan_portable(c, points, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn approx_scan_avx2(c: &Centroids, points: &[f32], out: &mut [(u32, f32, f32)]) {
    scan(c, points, out);
}

fn approx_scan_portable(c: &Centroids, points: &[f32], out: &mut [(u32, f32, f32)]) {
    scan(c, points, out);
}

#[inline(always)]
fn scan(c: &Centroids, points: &[f32], out: &mut [(u32, f32, f32)]) {
    let d = c.d;
    let mut full = points.chunks_exact(POINTS * d);
    let mut outs = out.chunks_exact_mut(POINTS);
    for (tile, o) in (&mut full).zip(&mut outs) {
        tile_scan(c, tile, o);
    }
    let rest = full.remainder();
    if !rest.is_empty() {
        // The last few points, padded with copies of the first of them.
        let mut padded = Vec::with_capacity(POINTS * d);
        padded.extend_from_slice(rest);
        while padded.len() < POINTS * d {
            padded.extend_from_slice(&rest[..d]);
        }
        let mut o = [(0u32, 0.0f32, 0.0f32); POINTS];
        tile_scan(c, &padded, &mut o);
        let tail = outs.into_remainder();
        let m = tail.len();
        tail.copy_from_slice(&o[..m]);
    }
}

/// `POINTS` points (row-major in `tile`) against every centroid block.
#[inline(always)]
fn tile_scan(c: &Centroids, tile: &[f32], out: &mut [(u32, f32, f32)]) {
    let d = c.d;
    let mut best = [[f32::INFINITY; LANES]; POINTS];
    let mut second = [[f32::INFINITY; LANES]; POINTS];
    let mut index = [[0u32; LANES]; POINTS];
    for (b, (block, norms)) in c
        .neg2
        .chunks_exact(d * LANES)
        .zip(c.norms.chunks_exact(LANES))
        .enumerate()
    {
        let mut acc = [[0.0f32; LANES]; POINTS];
        for a in acc.iter_mut() {
            a.copy_from_slice(norms);
        }
        for (t, column) in block.chunks_exact(LANES).enumerate() {
            for (p, a) in acc.iter_mut().enumerate() {
                let x = tile[p * d + t];
                for l in 0..LANES {
                    a[l] = x.mul_add(column[l], a[l]);
                }
            }
        }
        let base = (b * LANES) as u32;
        for p in 0..POINTS {
            for l in 0..LANES {
                let v = acc[p][l];
                second[p][l] = second[p][l].min(best[p][l].max(v));
                let better = v < best[p][l];
                index[p][l] = if better { base + l as u32 } else { index[p][l] };
                best[p][l] = if better { v } else { best[p][l] };
            }
        }
    }
    for (p, o) in out.iter_mut().enumerate() {
        let mut win = 0;
        for l in 1..LANES {
            let (v, w) = (best[p][l], best[p][win]);
            if v < w || (v == w && index[p][l] < index[p][win]) {
                win = l;
            }
        }
        let mut runner_up = f32::INFINITY;
        for l in 0..LANES {
            runner_up = runner_up.min(second[p][l]);
            if l != win {
                runner_up = runner_up.min(best[p][l]);
            }
        }
        *o = (index[p][win], best[p][win], runner_up);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kmeans::Rng;

    /// The selection must agree with a plain f64 scan, including points far
    /// from the origin (where the expanded form cancels) and exact ties.
    #[test]
    fn matches_exact_scan() {
        let mut rng = Rng::new(5);
        for (d, k, offset) in [(8, 64, 0.0), (3, 13, 1000.0), (1, 1, 0.0), (5, 9, 0.0)] {
            let centroids: Vec<f64> = (0..k * d).map(|_| offset + rng.next_f64() * 10.0).collect();
            let mut points: Vec<f32> = (0..1001 * d)
                .map(|_| (offset + rng.next_f64() * 10.0) as f32)
                .collect();
            // A point exactly on a centroid.
            points[..d]
                .iter_mut()
                .enumerate()
                .for_each(|(t, x)| *x = centroids[t] as f32);
            let set = Centroids::new(&centroids, d);
            let mut out = vec![Nearest::default(); 1001];
            set.nearest(&points, &mut out);
            for (x, got) in points.chunks_exact(d).zip(&out) {
                let want = set.exact_nearest(x);
                assert_eq!(got.index, want.index, "d {d} k {k} offset {offset}");
                assert_eq!(got.dist, want.dist);
                assert!(
                    got.second <= want.second,
                    "{} > {}",
                    got.second,
                    want.second
                );
            }
        }
    }
}
