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
//!
//! Applying a model (`cluster_assign`) has a second layout, used where the
//! CPU has AVX-512: points in *panels* of sixteen, one point per vector
//! lane, which is the column layout Arrow hands over, so encoding writes it
//! directly. Each centroid then costs `d` FMAs for sixteen points with the
//! points held in registers, eight centroids in flight to cover the FMA
//! latency, and the bookkeeping is four vector operations per centroid
//! instead of a compare-and-blend per block: the centroid's place in its
//! group of sixteen is written into the low four bits of its f32 value, so
//! a plain `min` carries the index along. That costs at most 16 ulps, which
//! the certification bound takes in; the answer is the same exact `f64`
//! nearest as on the row path.

use crate::kmeans::sq_dist;

/// Centroids per vector.
const LANES: usize = 8;
/// Points per pass over the centroids.
const POINTS: usize = 4;
/// Points per panel in the panel layout: one AVX-512 vector of f32.
pub const PANEL: usize = 16;
/// Centroids whose index rides in the low bits of their value (4 bits).
const GROUP: usize = 16;
/// ‖c‖² of the padding centroids of the panel layout: far from any point
/// the panel path certifies, and finite, so index bits never make a NaN.
const PAD_NORM: f32 = 1e37;
/// Points with ‖x‖² + max ‖c‖² beyond this go to the `f64` scan: the f32
/// values could overflow.
const PANEL_LIMIT: f32 = 1e35;

/// How encoded points are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Row-major: point `i`'s coordinates at `i·d .. (i+1)·d`.
    Rows,
    /// Panels of [`PANEL`] points, dimension-major inside a panel:
    /// coordinate `t` of point `i` at `(i / 16)·16·d + t·16 + i % 16`;
    /// the last panel is padded.
    Panels,
}

impl Layout {
    /// Where coordinate `t` of point `i` lives, for `d` dimensions.
    #[inline(always)]
    pub fn place(self, i: usize, t: usize, d: usize) -> usize {
        match self {
            Layout::Rows => i * d + t,
            Layout::Panels => (i / PANEL) * PANEL * d + t * PANEL + i % PANEL,
        }
    }

    /// Values a buffer of `n` points of `d` dimensions needs.
    pub fn len(self, n: usize, d: usize) -> usize {
        match self {
            Layout::Rows => n * d,
            Layout::Panels => n.div_ceil(PANEL) * PANEL * d,
        }
    }

    /// The layout [`Centroids::assign`] is fastest with on this CPU, or
    /// the one `MICROSEG_KERNEL_LAYOUT` forces ([`Kernel::chosen`]).
    pub fn preferred() -> Layout {
        Kernel::chosen().layout()
    }
}

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
    /// Per centroid, for the panel layout: ‖c‖² then −2·c, as f32; padded
    /// to whole groups with far-away centroids.
    rows: Vec<f32>,
    /// The code that searches them.
    kernel: Kernel,
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

/// How a column value becomes a coordinate: `((x − shift) · factor) as
/// f32`, rounded once from `f64`. `(mean, 1/std)` z-scores; `(0, 1)` is
/// the value itself, bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Subtracted first.
    pub shift: f64,
    /// Then multiplied by.
    pub factor: f64,
}

impl Scale {
    /// The value itself.
    pub const IDENTITY: Scale = Scale {
        shift: 0.0,
        factor: 1.0,
    };

    /// z-scores: (x − mean) / std, as a multiplication by 1/std so the
    /// vector path needs no division.
    pub fn z_score(mean: f64, std: f64) -> Scale {
        Scale {
            shift: mean,
            factor: 1.0 / std,
        }
    }

    /// A numeric feature's scale: z-scores when it is standardized.
    pub fn of(mean: f64, std: f64, standardize: bool) -> Scale {
        if standardize {
            Scale::z_score(mean, std)
        } else {
            Scale::IDENTITY
        }
    }

    /// The coordinate of `x`.
    #[inline(always)]
    pub fn apply(self, x: f64) -> f32 {
        ((x - self.shift) * self.factor) as f32
    }
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
    /// Lays out `centroids` (row-major k × d) for the process's kernel
    /// ([`Kernel::chosen`]).
    pub fn new(centroids: &[f64], d: usize) -> Self {
        Centroids::with_kernel(centroids, d, Kernel::chosen())
    }

    /// Lays out `centroids` (row-major k × d) for `kernel`.
    pub fn with_kernel(centroids: &[f64], d: usize, kernel: Kernel) -> Self {
        let k = centroids.len() / d.max(1);
        let blocks = k.div_ceil(LANES);
        let mut neg2 = vec![0.0f32; blocks * LANES * d];
        let mut norms = vec![f32::INFINITY; blocks * LANES];
        let mut max_norm = 0.0f64;
        let mut rows = vec![0.0f32; k.div_ceil(GROUP) * GROUP * (d + 1)];
        for (j, row) in rows.chunks_exact_mut(d + 1).enumerate() {
            row[0] = PAD_NORM;
            if let Some(c) = centroids.get(j * d..(j + 1) * d) {
                for (r, &v) in row[1..].iter_mut().zip(c) {
                    *r = -2.0 * v as f32;
                }
            }
        }
        for (j, c) in centroids.chunks_exact(d).enumerate() {
            let (b, l) = (j / LANES, j % LANES);
            let mut norm = 0.0f64;
            for (t, &v) in c.iter().enumerate() {
                let v32 = v as f32;
                neg2[(b * d + t) * LANES + l] = -2.0 * v32;
                norm += f64::from(v32) * f64::from(v32);
            }
            norms[j] = norm as f32;
            rows[j * (d + 1)] = norm as f32;
            max_norm = max_norm.max(norm.max(c.iter().map(|v| v * v).sum()));
        }
        Centroids {
            d,
            k,
            neg2,
            norms,
            exact: centroids.to_vec(),
            max_norm,
            rows,
            kernel,
        }
    }

    /// The kernel the searches run.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Number of centroids.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// The nearest centroid of each of `n` points laid out as `layout`
    /// into `index`, and its exact squared distance into `dist` when
    /// given: the exact `f64` nearest (lowest index on ties) on every path.
    pub fn assign(
        &self,
        points: &[f32],
        layout: Layout,
        n: usize,
        index: &mut [u32],
        mut dist: Option<&mut [f64]>,
    ) {
        let d = self.d;
        debug_assert!(points.len() >= layout.len(n, d) && index.len() >= n);
        if self.k == 0 || n == 0 {
            return;
        }
        if layout == Layout::Rows {
            let mut found = vec![Nearest::default(); n];
            self.nearest_rows(&points[..n * d], &mut found, &mut Vec::new());
            for (i, f) in found.iter().enumerate() {
                index[i] = f.index;
                if let Some(dist) = dist.as_deref_mut() {
                    dist[i] = f.dist;
                }
            }
            return;
        }
        let scan = |candidates: &mut [u32], certain: &mut [u16], seconds: &mut [f32]| {
            self.scan_panels(&points[..layout.len(n, d)], candidates, certain, seconds)
        };
        self.assign_panels(n, index, dist, scan, |i, x| {
            for (t, v) in x.iter_mut().enumerate() {
                *v = points[layout.place(i, t, d)];
            }
        });
    }

    /// [`Centroids::assign`] for points given as one `f64` column per
    /// dimension, `n` long, coordinate `t` of point `i` being
    /// `scales[t].apply(columns[t][i])`: on CPUs with AVX-512 the kernel
    /// reads and converts the columns itself, sixteen rows at a time, so
    /// the memory reads overlap the arithmetic instead of preceding it.
    pub fn assign_columns(
        &self,
        columns: &[&[f64]],
        scales: &[Scale],
        index: &mut [u32],
        dist: Option<&mut [f64]>,
    ) {
        let d = self.d;
        let n = columns.first().map_or(0, |c| c.len());
        assert!(columns.len() == d && scales.len() == d);
        assert!(columns.iter().all(|c| c.len() == n) && index.len() >= n);
        if self.k == 0 || n == 0 {
            return;
        }
        let point = |i: usize, x: &mut [f32]| {
            for ((v, column), scale) in x.iter_mut().zip(columns).zip(scales) {
                *v = scale.apply(column[i]);
            }
        };
        #[cfg(target_arch = "x86_64")]
        {
            if self.kernel.path() == Path::Avx512 && self.kernel.layout() == Layout::Panels {
                let source = avx512::Columns::new(columns, scales);
                let scan = |candidates: &mut [u32], certain: &mut [u16], seconds: &mut [f32]| {
                    // SAFETY: a kernel's path is one the CPU has (Kernel::new).
                    unsafe { avx512::panels(self, &source, candidates, certain, seconds) }
                };
                self.assign_panels(n, index, dist, scan, point);
                return;
            }
        }
        let layout = self.kernel.layout();
        let mut encoded = vec![0.0f32; layout.len(n, d)];
        let mut x = vec![0.0f32; d];
        for i in 0..n {
            point(i, &mut x);
            for (t, &v) in x.iter().enumerate() {
                encoded[layout.place(i, t, d)] = v;
            }
        }
        self.assign(&encoded, layout, n, index, dist);
    }

    /// The panel paths: `scan` fills each lane's f32 winner, its f32
    /// runner-up value and each panel's certified lanes; the certified
    /// winners stand, the others are confirmed in `f64` against the bound
    /// that splits the centroids by norm ([`Centroids::split_floor`]: the
    /// kernel's own margin is the largest norm's, which a few far-out
    /// centroids make wider than the gaps around most points) or, near
    /// ties, settled in `f64`; the exact distances are added when asked
    /// for. `point(i, x)` writes point `i`'s coordinates into `x`.
    fn assign_panels(
        &self,
        n: usize,
        index: &mut [u32],
        mut dist: Option<&mut [f64]>,
        scan: impl FnOnce(&mut [u32], &mut [u16], &mut [f32]),
        point: impl Fn(usize, &mut [f32]),
    ) {
        let d = self.d;
        let panels = n.div_ceil(PANEL);
        let mut certain = vec![0u16; panels];
        let mut candidates = vec![0u32; panels * PANEL];
        let mut seconds = vec![0.0f32; panels * PANEL];
        scan(&mut candidates, &mut certain, &mut seconds);
        index[..n].copy_from_slice(&candidates[..n]);
        let mut x = vec![0.0f32; d];
        for (p, &settled) in certain.iter().enumerate() {
            if settled == u16::MAX && dist.is_none() {
                continue;
            }
            for i in p * PANEL..((p + 1) * PANEL).min(n) {
                point(i, &mut x);
                if settled >> (i % PANEL) & 1 == 0 {
                    let (j, found) = self.confirm_panel(&x, candidates[i], seconds[i]);
                    index[i] = j;
                    if let Some(dist) = dist.as_deref_mut() {
                        dist[i] = found;
                    }
                } else if let Some(dist) = dist.as_deref_mut() {
                    let j = index[i] as usize;
                    dist[i] = sq_dist(&x, &self.exact[j * d..(j + 1) * d]);
                }
            }
        }
    }

    /// Per panel: each lane's f32 winner in `candidates`, and in `certain`
    /// the lanes whose winner is certainly the `f64` nearest.
    /// With `seconds` not empty, also each lane's f32 runner-up value.
    fn scan_panels(
        &self,
        panels: &[f32],
        candidates: &mut [u32],
        certain: &mut [u16],
        seconds: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if self.kernel.path() == Path::Avx512 {
                let source = avx512::Buffer::new(panels, self.d);
                // SAFETY: a kernel's path is one the CPU has (Kernel::new).
                unsafe { avx512::panels(self, &source, candidates, certain, seconds) };
                return;
            }
        }
        panels_portable(self, panels, candidates, certain, seconds);
    }

    /// Twice the certification margin of the panel path, per unit of
    /// ‖x‖² + max ‖c‖²: the expanded form's bound ([`margin`]) plus 16 ulps
    /// of a value (|value| ≤ 2(‖x‖² + ‖c‖²)) for the index bits, inflated
    /// by 1/16 for the f32 arithmetic that evaluates it.
    fn panel_margin(&self) -> f32 {
        let per_unit = (2 * self.d + 16 + 2 * GROUP) as f64 * f64::from(f32::EPSILON);
        (2.0 * per_unit * 1.0625) as f32
    }

    /// The largest ‖c‖², rounded up into f32.
    fn max_norm32(&self) -> f32 {
        (self.max_norm * (1.0 + 1e-6)) as f32
    }

    /// The exact nearest centroid of a point the f32 pass left unsettled
    /// (a near tie) and its squared distance: every centroid's value again
    /// in f32, which vectorizes, then `f64` only for those within twice
    /// the rounding bound of the lowest (the others are certainly farther).
    /// The bound is doubled once more because plain multiply and add round
    /// twice where the kernel's FMA rounds once.
    pub fn settle(&self, x: &[f32]) -> (u32, f64) {
        #[cfg(test)]
        count_fallback();
        let d = self.d;
        let xn: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        // NaN coordinates land here too.
        let in_range = xn + self.max_norm < f64::from(PANEL_LIMIT);
        if !in_range {
            let found = self.exact_nearest(x);
            return (found.index, found.dist);
        }
        let slack = 2.0 * margin(d, xn, self.max_norm);
        let mut values = vec![0.0f32; self.norms.len()];
        #[cfg(target_arch = "x86_64")]
        {
            if self.kernel.path() == Path::Portable {
                values_of(self, x, &mut values);
            } else {
                // SAFETY: a kernel's path is one the CPU has (Kernel::new),
                // and avx512 includes AVX2.
                unsafe { values_avx2(self, x, &mut values) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        values_of(self, x, &mut values);
        // Lane-wise minima vectorize where a fold over f32::min does not.
        let mut lanes = [f32::INFINITY; LANES];
        for block in values.chunks_exact(LANES) {
            for (m, &v) in lanes.iter_mut().zip(block) {
                *m = if v < *m { v } else { *m };
            }
        }
        let lowest = lanes.iter().copied().fold(f32::INFINITY, f32::min);
        let window = ((f64::from(lowest) + 2.0 * slack) as f32).next_up();
        let mut best = (0usize, f64::INFINITY);
        for (b, block) in values.chunks_exact(LANES).enumerate() {
            // A branch-free test per block vectorizes; hits are rare.
            if !block.iter().fold(false, |hit, &v| hit | (v <= window)) {
                continue;
            }
            for (l, &v) in block.iter().enumerate() {
                let j = b * LANES + l;
                if v <= window && j < self.k {
                    let dist = sq_dist(x, &self.exact[j * d..(j + 1) * d]);
                    if dist < best.1 {
                        best = (j, dist);
                    }
                }
            }
        }
        (best.0 as u32, best.1)
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

#[cfg(test)]
thread_local! {
    /// Points this thread's searches sent to an `f64` scan ([`Centroids::settle`]
    /// or the full [`Centroids::exact_nearest`] after an unconfirmed winner):
    /// what tests count to see that far centroids do not defeat the f32 pass.
    static FALLBACKS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn count_fallback() {
    FALLBACKS.with(|c| c.set(c.get() + 1));
}

/// The `f64` scans this thread has made so far (tests).
#[cfg(test)]
pub(crate) fn fallbacks() -> usize {
    FALLBACKS.with(|c| c.get())
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod kernel;
mod panel;
#[cfg(test)]
pub(crate) mod paths_tests;
mod row;
mod search;
#[cfg(test)]
mod tests;

pub use kernel::{Kernel, Path};
pub use search::Scratch;

use panel::panels_portable;
#[cfg(target_arch = "x86_64")]
use row::values_avx2;
use row::{Tile, approx_scan, reduce_lanes, values_of};
