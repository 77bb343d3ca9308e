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
            // An infinite runner-up is only genuine for k = 1; otherwise it
            // is f32 overflow (coordinates beyond ~1e19), settled in f64.
            let clear = second - best > 2.0 * slack && (second.is_finite() || self.k == 1);
            *o = if clear {
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
            scan(c, points, out, |c, p, o| unsafe { avx2::tile(c, p, o) });
            return;
        }
    }
    scan(c, points, out, tile_portable);
}

type Tile = (u32, f32, f32);

/// Runs `tile` over `POINTS` points at a time, padding the last few with
/// copies of the first of them.
#[inline(always)]
fn scan(
    c: &Centroids,
    points: &[f32],
    out: &mut [Tile],
    tile: impl Fn(&Centroids, &[f32], &mut [Tile]),
) {
    let d = c.d;
    let mut full = points.chunks_exact(POINTS * d);
    let mut outs = out.chunks_exact_mut(POINTS);
    for (points, o) in (&mut full).zip(&mut outs) {
        tile(c, points, o);
    }
    let rest = full.remainder();
    if !rest.is_empty() {
        let mut padded = Vec::with_capacity(POINTS * d);
        padded.extend_from_slice(rest);
        while padded.len() < POINTS * d {
            padded.extend_from_slice(&rest[..d]);
        }
        let mut o = [(0u32, 0.0f32, 0.0f32); POINTS];
        tile(c, &padded, &mut o);
        let tail = outs.into_remainder();
        let m = tail.len();
        tail.copy_from_slice(&o[..m]);
    }
}

/// One lane's running best, second best and best index after value `v` of
/// centroid `j`: compares and selects only (NaN changes nothing), the same
/// on the portable and the vector path.
#[inline(always)]
fn lane_update(best: &mut f32, second: &mut f32, index: &mut u32, v: f32, j: u32) {
    let (below_best, below_second) = (v < *best, v < *second);
    *second = if below_best {
        *best
    } else if below_second {
        v
    } else {
        *second
    };
    if below_best {
        *index = j;
        *best = v;
    }
}

/// The lanes' results merged: the best (lowest index on ties) and the
/// smallest of everything else.
fn reduce_lanes(best: &[f32; LANES], second: &[f32; LANES], index: &[u32; LANES]) -> Tile {
    let mut win = 0;
    for l in 1..LANES {
        if best[l] < best[win] || (best[l] == best[win] && index[l] < index[win]) {
            win = l;
        }
    }
    let mut runner_up = f32::INFINITY;
    for l in 0..LANES {
        runner_up = runner_up.min(second[l]);
        if l != win {
            runner_up = runner_up.min(best[l]);
        }
    }
    (index[win], best[win], runner_up)
}

/// `POINTS` points (row-major in `tile`) against every centroid block.
fn tile_portable(c: &Centroids, tile: &[f32], out: &mut [Tile]) {
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
        for p in 0..POINTS {
            let mut acc = [0.0f32; LANES];
            acc.copy_from_slice(norms);
            for (t, column) in block.chunks_exact(LANES).enumerate() {
                let x = tile[p * d + t];
                for l in 0..LANES {
                    acc[l] = x.mul_add(column[l], acc[l]);
                }
            }
            for l in 0..LANES {
                let j = (b * LANES + l) as u32;
                lane_update(
                    &mut best[p][l],
                    &mut second[p][l],
                    &mut index[p][l],
                    acc[l],
                    j,
                );
            }
        }
    }
    for (p, o) in out.iter_mut().enumerate() {
        *o = reduce_lanes(&best[p], &second[p], &index[p]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Centroids, LANES, POINTS, Tile, reduce_lanes};

    /// [`super::tile_portable`] with 8-wide AVX2 FMAs, compares and blends:
    /// the same operations per lane, so the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn tile(c: &Centroids, tile: &[f32], out: &mut [Tile]) {
        let d = c.d;
        assert!(tile.len() >= POINTS * d && out.len() >= POINTS);
        assert_eq!(c.neg2.len(), c.norms.len() * d);
        let mut best = [_mm256_set1_ps(f32::INFINITY); POINTS];
        let mut second = best;
        let mut index = [_mm256_setzero_si256(); POINTS];
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for b in 0..c.norms.len() / LANES {
            // SAFETY: b * LANES + 8 ≤ norms.len(), and (b * d + t) * LANES + 8
            // ≤ neg2.len() = norms.len() * d for t < d (asserted above).
            let norms = unsafe { _mm256_loadu_ps(c.norms.as_ptr().add(b * LANES)) };
            let mut acc = [norms; POINTS];
            for t in 0..d {
                let column = unsafe { _mm256_loadu_ps(c.neg2.as_ptr().add((b * d + t) * LANES)) };
                for (p, a) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(tile[p * d + t]);
                    *a = _mm256_fmadd_ps(x, column, *a);
                }
            }
            let ids = _mm256_add_epi32(lanes, _mm256_set1_epi32((b * LANES) as i32));
            for p in 0..POINTS {
                let v = acc[p];
                let below_best = _mm256_cmp_ps::<_CMP_LT_OQ>(v, best[p]);
                let below_second = _mm256_cmp_ps::<_CMP_LT_OQ>(v, second[p]);
                second[p] = _mm256_blendv_ps(
                    _mm256_blendv_ps(second[p], v, below_second),
                    best[p],
                    below_best,
                );
                index[p] = _mm256_castps_si256(_mm256_blendv_ps(
                    _mm256_castsi256_ps(index[p]),
                    _mm256_castsi256_ps(ids),
                    below_best,
                ));
                best[p] = _mm256_blendv_ps(best[p], v, below_best);
            }
        }
        for (p, o) in out.iter_mut().take(POINTS).enumerate() {
            let (mut b, mut s, mut i) = ([0.0f32; LANES], [0.0f32; LANES], [0u32; LANES]);
            // SAFETY: each array holds exactly 8 lanes.
            unsafe {
                _mm256_storeu_ps(b.as_mut_ptr(), best[p]);
                _mm256_storeu_ps(s.as_mut_ptr(), second[p]);
                _mm256_storeu_si256(i.as_mut_ptr().cast(), index[p]);
            }
            *o = reduce_lanes(&b, &s, &i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kmeans::Rng;

    /// The vector path computes exactly what the portable one does.
    #[test]
    fn vector_path_matches_portable() {
        let mut rng = Rng::new(8);
        let (d, k) = (7, 37);
        let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 4.0).collect();
        let points: Vec<f32> = (0..203 * d)
            .map(|_| (rng.next_f64() * 4.0) as f32)
            .collect();
        let set = Centroids::new(&centroids, d);
        let mut portable = vec![(0, 0.0, 0.0); 203];
        scan(&set, &points, &mut portable, tile_portable);
        let mut any = vec![(0, 0.0, 0.0); 203];
        approx_scan(&set, &points, &mut any);
        assert_eq!(portable, any);
    }

    /// The selection must agree with a plain f64 scan, including points far
    /// from the origin (where the expanded form cancels) and exact ties.
    #[test]
    fn matches_exact_scan() {
        let mut rng = Rng::new(5);
        // Offsets: none, far from the origin (cancellation), and beyond
        // f32's square range (overflow).
        for (d, k, offset) in [
            (8, 64, 0.0),
            (3, 13, 1000.0),
            (1, 1, 0.0),
            (5, 9, 0.0),
            (2, 5, 1e20),
        ] {
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
