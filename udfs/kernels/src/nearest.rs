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

    /// The layout [`Centroids::assign`] is fastest with on this CPU.
    pub fn preferred() -> Layout {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Layout::Panels;
            }
        }
        Layout::Rows
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
    /// Lays out `centroids` (row-major k × d).
    pub fn new(centroids: &[f64], d: usize) -> Self {
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
            self.nearest(&points[..n * d], &mut found);
            for (i, f) in found.iter().enumerate() {
                index[i] = f.index;
                if let Some(dist) = dist.as_deref_mut() {
                    dist[i] = f.dist;
                }
            }
            return;
        }
        let scan = |candidates: &mut [u32], certain: &mut [u16]| {
            self.scan_panels(&points[..layout.len(n, d)], candidates, certain)
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
            if std::arch::is_x86_feature_detected!("avx512f") {
                let source = avx512::Columns::new(columns, scales);
                let scan = |candidates: &mut [u32], certain: &mut [u16]| {
                    // SAFETY: the CPU has the feature the function is compiled for.
                    unsafe { avx512::panels(self, &source, candidates, certain) }
                };
                self.assign_panels(n, index, dist, scan, point);
                return;
            }
        }
        let mut rows = vec![0.0f32; n * d];
        for (i, x) in rows.chunks_exact_mut(d).enumerate() {
            point(i, x);
        }
        self.assign(&rows, Layout::Rows, n, index, dist);
    }

    /// The panel paths: `scan` fills each lane's f32 winner and each
    /// panel's certified lanes; the certified winners stand, the others
    /// are settled in `f64`, and the exact distances are added when asked
    /// for. `point(i, x)` writes point `i`'s coordinates into `x`.
    fn assign_panels(
        &self,
        n: usize,
        index: &mut [u32],
        mut dist: Option<&mut [f64]>,
        scan: impl FnOnce(&mut [u32], &mut [u16]),
        point: impl Fn(usize, &mut [f32]),
    ) {
        let d = self.d;
        let panels = n.div_ceil(PANEL);
        let mut certain = vec![0u16; panels];
        let mut candidates = vec![0u32; panels * PANEL];
        scan(&mut candidates, &mut certain);
        index[..n].copy_from_slice(&candidates[..n]);
        let mut x = vec![0.0f32; d];
        for (p, &settled) in certain.iter().enumerate() {
            if settled == u16::MAX && dist.is_none() {
                continue;
            }
            for i in p * PANEL..((p + 1) * PANEL).min(n) {
                point(i, &mut x);
                if settled >> (i % PANEL) & 1 == 0 {
                    let (j, found) = self.settle(&x);
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
    fn scan_panels(&self, panels: &[f32], candidates: &mut [u32], certain: &mut [u16]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                let source = avx512::Buffer::new(panels, self.d);
                // SAFETY: the CPU has the feature the function is compiled for.
                unsafe { avx512::panels(self, &source, candidates, certain) };
                return;
            }
        }
        panels_portable(self, panels, candidates, certain);
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
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has the feature the function is compiled for.
                unsafe { values_avx2(self, x, &mut values) };
            } else {
                values_of(self, x, &mut values);
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

/// Every centroid's ‖c‖² − 2x·c in f32 (+∞ past k), by plain multiply and
/// add: the same bits on every path, since nothing is fused.
#[inline(always)]
fn values_of(c: &Centroids, x: &[f32], values: &mut [f32]) {
    for ((block, norms), out) in c
        .neg2
        .chunks_exact(c.d * LANES)
        .zip(c.norms.chunks_exact(LANES))
        .zip(values.chunks_exact_mut(LANES))
    {
        let mut acc = [0.0f32; LANES];
        acc.copy_from_slice(norms);
        for (column, &xt) in block.chunks_exact(LANES).zip(x) {
            for l in 0..LANES {
                acc[l] += xt * column[l];
            }
        }
        out.copy_from_slice(&acc);
    }
}

/// [`values_of`] with 8-wide vectors: the same multiply and add per lane,
/// so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn values_avx2(c: &Centroids, x: &[f32], values: &mut [f32]) {
    use std::arch::x86_64::*;
    let d = c.d;
    assert!(x.len() >= d && values.len() >= c.norms.len());
    assert_eq!(c.neg2.len(), c.norms.len() * d);
    let blocks = c.norms.len() / LANES;
    // Four blocks at a time: four independent add chains hide the latency.
    let mut b = 0;
    while b < blocks {
        let m = (blocks - b).min(4);
        // SAFETY: (b + i)·8 + 8 ≤ norms.len() ≤ values.len() for i < m,
        // and ((b + i)·d + t)·8 + 8 ≤ neg2.len() for t < d (asserted above).
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (i, a) in acc.iter_mut().enumerate().take(m) {
                *a = _mm256_loadu_ps(c.norms.as_ptr().add((b + i) * LANES));
            }
            for (t, &xt) in x.iter().enumerate().take(d) {
                let xt = _mm256_set1_ps(xt);
                for (i, a) in acc.iter_mut().enumerate().take(m) {
                    let column = _mm256_loadu_ps(c.neg2.as_ptr().add(((b + i) * d + t) * LANES));
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(xt, column));
                }
            }
            for (i, a) in acc.iter().enumerate().take(m) {
                _mm256_storeu_ps(values.as_mut_ptr().add((b + i) * LANES), *a);
            }
        }
        b += m;
    }
}

/// One lane's running group best and second best after centroid value
/// `v`, whose place in its group is `u`: the index bits go into the value,
/// so `min` carries them (see the module docs).
#[inline(always)]
fn encode_index(v: f32, u: usize) -> f32 {
    f32::from_bits((v.to_bits() & !(GROUP as u32 - 1)) | u as u32)
}

/// [`avx512::panels`] one lane at a time: the same operations in the same
/// order, so the same bits for finite values.
fn panels_portable(c: &Centroids, panels: &[f32], candidates: &mut [u32], certain: &mut [u16]) {
    let d = c.d;
    let stride = d + 1;
    let (margin, max_norm) = (c.panel_margin(), c.max_norm32());
    for (p, panel) in panels.chunks_exact(PANEL * d).enumerate() {
        let mut mask = 0u16;
        for lane in 0..PANEL {
            let (mut best, mut second, mut group) = (f32::INFINITY, f32::INFINITY, 0u32);
            for (g, rows) in c.rows.chunks_exact(GROUP * stride).enumerate() {
                let (mut group_best, mut group_second) = (f32::INFINITY, f32::INFINITY);
                for (u, row) in rows.chunks_exact(stride).enumerate() {
                    let mut acc = row[0];
                    for t in 0..d {
                        acc = panel[t * PANEL + lane].mul_add(row[1 + t], acc);
                    }
                    let v = encode_index(acc, u);
                    group_second = group_second.min(group_best.max(v));
                    group_best = group_best.min(v);
                }
                if group_best < best {
                    group = g as u32;
                }
                second = second.min(group_second).min(best.max(group_best));
                best = best.min(group_best);
            }
            let mut xn = 0.0f32;
            for t in 0..d {
                let v = panel[t * PANEL + lane];
                xn = v.mul_add(v, xn);
            }
            let scale = xn + max_norm;
            if second - best > margin * scale && scale < PANEL_LIMIT {
                mask |= 1 << lane;
            }
            candidates[p * PANEL + lane] = group * GROUP as u32 + (best.to_bits() & 0xF);
        }
        certain[p] = mask;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Centroids, GROUP, PANEL, PANEL_LIMIT};

    /// Centroids in flight per pass: enough independent FMA chains to
    /// cover the latency of the two FMA ports.
    const FLIGHT: usize = 8;

    /// Where the kernel reads its panels from.
    pub(super) trait Source {
        /// Panels of sixteen points.
        fn panels(&self) -> usize;
        /// Coordinate `t` of panel `p`'s sixteen points.
        ///
        /// # Safety
        /// `p < panels()`, `t` below the dimension count, and the CPU has
        /// AVX-512F.
        unsafe fn load(&self, p: usize, t: usize) -> __m512;
    }

    /// Points already laid out as panels (see [`super::Layout::Panels`]).
    pub(super) struct Buffer<'a> {
        values: &'a [f32],
        d: usize,
    }

    impl<'a> Buffer<'a> {
        /// `values` holds whole panels of `d` dimensions.
        pub(super) fn new(values: &'a [f32], d: usize) -> Self {
            assert!(d > 0 && values.len().is_multiple_of(PANEL * d));
            Buffer { values, d }
        }
    }

    impl Source for Buffer<'_> {
        fn panels(&self) -> usize {
            self.values.len() / (PANEL * self.d)
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(&self, p: usize, t: usize) -> __m512 {
            // SAFETY: (p·d + t + 1)·16 ≤ values.len() for p < panels(), t < d.
            unsafe { _mm512_loadu_ps(self.values.as_ptr().add((p * self.d + t) * PANEL)) }
        }
    }

    /// Points as one `f64` column per dimension, scaled and rounded to f32
    /// as they are loaded: the same operations as [`super::Scale::apply`],
    /// so the same bits. Rows past the end of the last panel read as 0.
    pub(super) struct Columns<'a> {
        columns: &'a [&'a [f64]],
        scales: &'a [super::Scale],
        n: usize,
    }

    impl<'a> Columns<'a> {
        /// `columns` are equally long, one scale each.
        pub(super) fn new(columns: &'a [&'a [f64]], scales: &'a [super::Scale]) -> Self {
            let n = columns.first().map_or(0, |c| c.len());
            assert!(columns.iter().all(|c| c.len() == n) && scales.len() == columns.len());
            Columns { columns, scales, n }
        }
    }

    impl Source for Columns<'_> {
        fn panels(&self) -> usize {
            self.n.div_ceil(PANEL)
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(&self, p: usize, t: usize) -> __m512 {
            let (column, scale) = (self.columns[t], self.scales[t]);
            let at = column.as_ptr().wrapping_add(p * PANEL);
            let left = self.n - p * PANEL;
            // SAFETY: a full panel reads rows p·16 .. p·16 + 16 < n; the
            // last one only the rows its mask names, all below n.
            let (low, high) = unsafe {
                if left >= PANEL {
                    (_mm512_loadu_pd(at), _mm512_loadu_pd(at.add(8)))
                } else {
                    let mask = (1u32 << left) - 1;
                    (
                        _mm512_maskz_loadu_pd(mask as u8, at),
                        _mm512_maskz_loadu_pd((mask >> 8) as u8, at.wrapping_add(8)),
                    )
                }
            };
            let (shift, factor) = (_mm512_set1_pd(scale.shift), _mm512_set1_pd(scale.factor));
            let convert = |v| {
                _mm256_castps_pd(_mm512_cvtpd_ps(_mm512_mul_pd(
                    _mm512_sub_pd(v, shift),
                    factor,
                )))
            };
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(convert(low)),
                convert(high),
            ))
        }
    }

    /// [`super::panels_portable`] sixteen lanes at a time, the points of a
    /// panel held in registers when d ≤ 16.
    #[target_feature(enable = "avx512f")]
    pub(super) fn panels<S: Source>(
        c: &Centroids,
        source: &S,
        candidates: &mut [u32],
        certain: &mut [u16],
    ) {
        macro_rules! dims {
            ($($d:literal)*) => {
                match c.d {
                    $($d => run::<$d, S>(c, source, candidates, certain),)*
                    _ => run::<0, S>(c, source, candidates, certain),
                }
            };
        }
        dims!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// `D` is the dimension count when it is known at compile time (the
    /// points then stay in registers), 0 otherwise (they are staged in a
    /// panel-sized buffer).
    #[target_feature(enable = "avx512f")]
    fn run<const D: usize, S: Source>(
        c: &Centroids,
        source: &S,
        candidates: &mut [u32],
        certain: &mut [u16],
    ) {
        let d = if D > 0 { D } else { c.d };
        let stride = d + 1;
        let groups = c.rows.len() / (GROUP * stride);
        let panels = source.panels();
        assert!(candidates.len() >= panels * PANEL && certain.len() >= panels);
        assert_eq!(c.rows.len(), groups * GROUP * stride);
        assert_eq!(GROUP, 2 * FLIGHT);
        let keep = _mm512_set1_epi32(!(GROUP as i32 - 1));
        let low = _mm512_set1_epi32(GROUP as i32 - 1);
        let inf = _mm512_set1_ps(f32::INFINITY);
        let margin = _mm512_set1_ps(c.panel_margin());
        let max_norm = _mm512_set1_ps(c.max_norm32());
        let limit = _mm512_set1_ps(PANEL_LIMIT);
        let rows = c.rows.as_ptr();
        let mut staged = vec![0.0f32; if D > 0 { 0 } else { PANEL * d }];
        for (p, mask) in certain.iter_mut().enumerate().take(panels) {
            let mut held = [_mm512_setzero_ps(); 16];
            if D > 0 {
                for (t, h) in held.iter_mut().enumerate().take(D) {
                    // SAFETY: p < panels, t < d.
                    *h = unsafe { source.load(p, t) };
                }
            } else {
                for t in 0..d {
                    // SAFETY: p < panels, t < d; staged holds d vectors of 16.
                    unsafe {
                        _mm512_storeu_ps(staged.as_mut_ptr().add(t * PANEL), source.load(p, t))
                    };
                }
            }
            // SAFETY: as above.
            let x = |t: usize| {
                if D > 0 {
                    held[t]
                } else {
                    unsafe { _mm512_loadu_ps(staged.as_ptr().add(t * PANEL)) }
                }
            };
            let (mut best, mut second, mut group) = (inf, inf, _mm512_setzero_si512());
            for g in 0..groups {
                let (mut group_best, mut group_second) = (inf, inf);
                // Both flights' FMAs come before either's bookkeeping, so the
                // second flight's FMAs fill the wait for the first's. Unrolled
                // by hand so each centroid's index bits are a constant (a
                // broadcast memory operand), not a broadcast on the ports.
                macro_rules! fmas {
                    ($first:literal) => {{
                        let first = (g * GROUP + $first) * stride;
                        // SAFETY: first + FLIGHT·stride ≤ rows.len()
                        // (asserted: whole groups); offsets stay below.
                        let at = |u: usize, t: usize| unsafe {
                            _mm512_set1_ps(*rows.add(first + u * stride + t))
                        };
                        let mut acc = [inf; FLIGHT];
                        for (u, a) in acc.iter_mut().enumerate() {
                            *a = at(u, 0);
                        }
                        for t in 0..d {
                            let xt = x(t);
                            for (u, a) in acc.iter_mut().enumerate() {
                                *a = _mm512_fmadd_ps(xt, at(u, 1 + t), *a);
                            }
                        }
                        acc
                    }};
                }
                macro_rules! keep_two {
                    ($acc:expr, $first:literal) => {{
                        for (u, a) in $acc.iter().enumerate() {
                            let v = _mm512_castsi512_ps(_mm512_ternarylogic_epi32::<0xEA>(
                                _mm512_castps_si512(*a),
                                keep,
                                _mm512_set1_epi32(($first + u) as i32),
                            ));
                            group_second =
                                _mm512_min_ps(group_second, _mm512_max_ps(group_best, v));
                            group_best = _mm512_min_ps(group_best, v);
                        }
                    }};
                }
                let early = fmas!(0);
                let late = fmas!(8);
                keep_two!(early, 0);
                keep_two!(late, 8);
                let better = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(group_best, best);
                group = _mm512_mask_mov_epi32(group, better, _mm512_set1_epi32(g as i32));
                second = _mm512_min_ps(
                    _mm512_min_ps(second, group_second),
                    _mm512_max_ps(best, group_best),
                );
                best = _mm512_min_ps(best, group_best);
            }
            let mut xn = _mm512_setzero_ps();
            for t in 0..d {
                xn = _mm512_fmadd_ps(x(t), x(t), xn);
            }
            let scale = _mm512_add_ps(xn, max_norm);
            let gap = _mm512_sub_ps(second, best);
            let clear = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(gap, _mm512_mul_ps(margin, scale))
                & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(scale, limit);
            let index = _mm512_or_si512(
                _mm512_slli_epi32::<4>(group),
                _mm512_and_si512(_mm512_castps_si512(best), low),
            );
            // SAFETY: p·16 + 16 ≤ candidates.len() (asserted).
            unsafe { _mm512_storeu_si512(candidates.as_mut_ptr().add(p * PANEL).cast(), index) };
            *mask = clear;
        }
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
    use crate::kmeans::Rng;

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

    /// Lays `points` (row-major) out as panels.
    fn to_panels(points: &[f32], d: usize) -> Vec<f32> {
        let n = points.len() / d;
        let mut out = vec![0.0f32; Layout::Panels.len(n, d)];
        for (i, x) in points.chunks_exact(d).enumerate() {
            for (t, &v) in x.iter().enumerate() {
                out[Layout::Panels.place(i, t, d)] = v;
            }
        }
        out
    }

    /// Both layouts give the exact f64 nearest centroid and its distance,
    /// for d held in registers and not (20), k not a multiple of the
    /// group, far from the origin and beyond f32's range, with ties.
    #[test]
    fn panels_match_exact_scan() {
        let mut rng = Rng::new(11);
        for (d, k, offset, n) in [
            (8, 64, 0.0, 1000),
            (3, 13, 1000.0, 517),
            (1, 1, 0.0, 33),
            (20, 37, 0.0, 301),
            (5, 300, 0.0, 999),
            (2, 5, 1e20, 100),
            (16, 17, 1e3, 64),
        ] {
            let mut centroids: Vec<f64> =
                (0..k * d).map(|_| offset + rng.next_f64() * 10.0).collect();
            if k > 2 {
                // A duplicated centroid: its lower index must win.
                let (a, b) = centroids.split_at_mut(2 * d);
                b[..d].copy_from_slice(&a[d..2 * d]);
            }
            let mut points: Vec<f32> = (0..n * d)
                .map(|_| (offset + rng.next_f64() * 10.0) as f32)
                .collect();
            for t in 0..d {
                // On a centroid, and on the duplicated one.
                points[t] = centroids[t] as f32;
                points[d + t] = centroids[(k.min(3) - 1) * d + t] as f32;
            }
            let set = Centroids::new(&centroids, d);
            for (layout, data) in [
                (Layout::Rows, points.clone()),
                (Layout::Panels, to_panels(&points, d)),
            ] {
                let mut index = vec![u32::MAX; n];
                let mut dist = vec![f64::NAN; n];
                set.assign(&data, layout, n, &mut index, Some(&mut dist));
                for (i, x) in points.chunks_exact(d).enumerate() {
                    let want = set.exact_nearest(x);
                    assert_eq!(
                        (index[i], dist[i]),
                        (want.index, want.dist),
                        "{layout:?} d {d} k {k} offset {offset} point {i}"
                    );
                }
            }
        }
    }

    /// Reading f64 columns directly gives what encoding them first and
    /// assigning the encoded rows gives: bit-equal coordinates (identity
    /// and z-scores), every tail length of the last panel, d held in
    /// registers and not (20), NaN and far-off rows.
    #[test]
    fn columns_match_encoded_rows() {
        let mut rng = Rng::new(17);
        for (d, k, n) in [
            (8, 64, 1000),
            (3, 13, 1),
            (3, 13, 15),
            (5, 40, 33),
            (20, 37, 47),
        ] {
            let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 10.0 - 5.0).collect();
            let set = Centroids::new(&centroids, d);
            let mut columns: Vec<Vec<f64>> = (0..d)
                .map(|_| (0..n).map(|_| rng.next_f64() * 30.0 - 15.0).collect())
                .collect();
            columns[0][n / 2] = f64::NAN;
            columns[d - 1][n - 1] = 1e30;
            for scales in [
                vec![Scale::IDENTITY; d],
                (0..d)
                    .map(|t| Scale::z_score(t as f64 * 0.3 - 1.0, 0.7 + t as f64))
                    .collect(),
            ] {
                let slices: Vec<&[f64]> = columns.iter().map(|c| &c[..]).collect();
                let (mut index, mut dist) = (vec![u32::MAX; n], vec![f64::NAN; n]);
                set.assign_columns(&slices, &scales, &mut index, Some(&mut dist));
                let rows: Vec<f32> = (0..n)
                    .flat_map(|i| {
                        (0..d)
                            .map(|t| scales[t].apply(columns[t][i]))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let mut want = (vec![0u32; n], vec![0.0f64; n]);
                set.assign(&rows, Layout::Rows, n, &mut want.0, Some(&mut want.1));
                assert_eq!(index, want.0, "d {d} k {k} n {n}");
                for (i, (got, want)) in dist.iter().zip(&want.1).enumerate() {
                    assert!(
                        got.to_bits() == want.to_bits(),
                        "d {d} k {k} row {i}: {got} vs {want}"
                    );
                }
                let mut alone = vec![u32::MAX; n];
                set.assign_columns(&slices, &scales, &mut alone, None);
                assert_eq!(alone, index);
            }
        }
    }

    /// A z-score applies (x − mean) / std up to one rounding of 1/std.
    #[test]
    fn z_score_scales() {
        let scale = Scale::z_score(10.0, 4.0);
        assert_eq!(scale.apply(18.0), 2.0);
        assert_eq!(Scale::IDENTITY.apply(0.1), 0.1f32);
        assert!(Scale::IDENTITY.apply(f64::NAN).is_nan());
    }

    /// The panel path settles almost every point in f32 (a certification
    /// that never succeeds would still be exact, only slow), and the
    /// AVX-512 path computes exactly what the portable one does.
    #[test]
    fn panels_certify_and_vector_matches_portable() {
        let mut rng = Rng::new(3);
        for (d, k) in [(8, 64), (4, 256), (19, 40)] {
            let n = 4096;
            let centroids: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 20.0 - 10.0).collect();
            let points: Vec<f32> = (0..n * d)
                .map(|_| (rng.next_f64() * 20.0 - 10.0) as f32)
                .collect();
            let set = Centroids::new(&centroids, d);
            let panels = to_panels(&points, d);
            let mut candidates = vec![0u32; n];
            let mut certain = vec![0u16; n / PANEL];
            panels_portable(&set, &panels, &mut candidates, &mut certain);
            let settled: u32 = certain.iter().map(|m| m.count_ones()).sum();
            assert!(
                settled as usize > n * 99 / 100,
                "d {d} k {k}: only {settled} of {n} settled in f32"
            );
            for (i, x) in points.chunks_exact(d).enumerate() {
                if certain[i / PANEL] >> (i % PANEL) & 1 == 1 {
                    assert_eq!(candidates[i], set.exact_nearest(x).index);
                }
            }
            let (mut fast, mut fast_certain) = (vec![0u32; n], vec![0u16; n / PANEL]);
            set.scan_panels(&panels, &mut fast, &mut fast_certain);
            assert_eq!((fast, fast_certain), (candidates, certain), "d {d} k {k}");
        }
    }

    /// Settling a near tie with the f32 prefilter gives the full f64
    /// scan's answer, with centroids packed so that near ties are common.
    #[test]
    fn settle_matches_exact_scan() {
        let mut rng = Rng::new(21);
        for (d, k) in [(8, 512), (3, 40), (11, 9)] {
            let centroids: Vec<f64> = (0..k * d).map(|_| 5.0 + rng.next_f64() * 0.01).collect();
            let set = Centroids::new(&centroids, d);
            for _ in 0..500 {
                let x: Vec<f32> = (0..d).map(|_| (rng.next_f64() * 10.0) as f32).collect();
                let want = set.exact_nearest(&x);
                assert_eq!(set.settle(&x), (want.index, want.dist), "d {d} k {k}");
            }
        }
    }
}
