//! The conjugate-gradient half-step: a few CG steps per row from the
//! previous factors, the products with the other side in f32 (half the
//! bytes of the rows read at random, twice the SIMD lanes; `implicit` runs
//! in f32 throughout), the solved factors and the step sizes in f64.
//!
//! Per row, A = G + Σⱼ eⱼ yⱼyⱼᵀ (G = YᵀY + λI, eⱼ = cⱼ − 1) is never formed:
//! the starting residual r = Σⱼ (cⱼ − eⱼ yⱼ·x) yⱼ − G x and each step's A·p =
//! Σⱼ eⱼ (yⱼ·p) yⱼ + G p are one pass over the row's entries each, 1 + steps
//! passes in all. Two ways to run them, the same operations in the same
//! order (so the same bits):
//!
//! - by rows ([`solve_rows`]): each row's CG on its own, reading the other
//!   side's rows at random; right when those fit in cache (customers
//!   against a few thousand items).
//! - by columns ([`solve_columns`]): every row's CG in lockstep, each pass
//!   streaming the other side in order through its own entries and
//!   scattering into the solved rows' sums; right when the solved side is
//!   the small one (items against a million customers), whose vectors then
//!   stay in cache while the large side is read once, in order, a pass.
//!
//! Threads own disjoint solved rows, each summed in the same order, so the
//! results do not depend on the thread count.

use super::Rows;
#[cfg(target_arch = "x86_64")]
use super::lanes::Avx2;
use super::lanes::{Best, Lanes};

/// Below this, a residual counts as solved (as `implicit`).
const SOLVED: f64 = 1e-20;

/// What every row's solve shares.
pub(super) struct Problem<'a> {
    /// The other side's factors in f32, rows padded to `stride`.
    pub other: &'a [f32],
    /// G = YᵀY + λI in f32, `stride` × `stride`, zero past f.
    pub gram: &'a [f32],
    /// f.
    pub f: usize,
    /// Padded row length (a multiple of [`super::lanes::PAD`]).
    pub stride: usize,
    /// CG steps per row.
    pub steps: usize,
}

impl Problem<'_> {
    fn other_row(&self, j: u32) -> &[f32] {
        &self.other[j as usize * self.stride..][..self.stride]
    }

    /// out = G·v, as rows of G scaled and summed (G is symmetric).
    #[inline(always)]
    fn gram_times<L: Lanes>(&self, l: L, v: &[f32], out: &mut [f32]) {
        let stride = self.stride;
        l.combine(&v[..self.f], |b| &self.gram[b * stride..][..stride], out);
    }
}

/// The coefficient of yⱼ in a pass: the starting residual's cⱼ − eⱼ s or a
/// step's eⱼ s, for s = yⱼ·v.
#[inline(always)]
fn coefficient(start: bool, extra: f32, s: f32) -> f32 {
    if start {
        (1.0 + extra) - extra * s
    } else {
        extra * s
    }
}

/// Σ (x as f64)·(y as f64).
fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// One row's CG state: x in f32 for the products, r, p and the pass's sum.
struct State<'a> {
    x32: &'a mut [f32],
    r: &'a mut [f32],
    p: &'a mut [f32],
    acc: &'a mut [f32],
    /// r·r; `None` once the row is solved or stalled.
    rs: &'a mut Option<f64>,
}

/// After the starting pass (acc = Σ (cⱼ − eⱼ yⱼ·x) yⱼ): r = acc − G x, p = r.
#[inline(always)]
fn begin<L: Lanes>(l: L, pb: &Problem, s: State, scratch: &mut [f32]) {
    pb.gram_times(l, s.x32, scratch);
    for ((r, a), g) in s.r.iter_mut().zip(&*s.acc).zip(&*scratch) {
        *r = a - g;
    }
    s.p.copy_from_slice(s.r);
    let rs = dot64(s.r, s.r);
    *s.rs = (rs >= SOLVED).then_some(rs);
}

/// After a step's pass (acc = Σ eⱼ (yⱼ·p) yⱼ): A p = acc + G p, then the CG
/// update of x, r and p.
#[inline(always)]
fn advance<L: Lanes>(l: L, pb: &Problem, x: &mut [f64], s: State, ap: &mut [f32]) {
    let Some(rs) = *s.rs else { return };
    pb.gram_times(l, s.p, ap);
    for (a, c) in ap.iter_mut().zip(&*s.acc) {
        *a += c;
    }
    let step = rs / dot64(s.p, ap);
    if !step.is_finite() {
        *s.rs = None;
        return;
    }
    for (xv, pv) in x.iter_mut().zip(&*s.p) {
        *xv += step * f64::from(*pv);
    }
    for (rv, av) in s.r.iter_mut().zip(&*ap) {
        *rv = (f64::from(*rv) - step * f64::from(*av)) as f32;
    }
    let next = dot64(s.r, s.r);
    let beta = next / rs;
    for (pv, rv) in s.p.iter_mut().zip(&*s.r) {
        *pv = (f64::from(*rv) + beta * f64::from(*pv)) as f32;
    }
    *s.rs = (next >= SOLVED).then_some(next);
}

/// x (f64, f a row) to f32, padded to `stride`.
fn narrow(x: &[f64], out: &mut [f32]) {
    out.fill(0.0);
    for (o, v) in out.iter_mut().zip(x) {
        *o = *v as f32;
    }
}

/// Splits rows `0..n` into `parts` contiguous ranges of about equal
/// `cost(range)`, as bounds.
fn split(n: usize, parts: usize, cost: impl Fn(usize) -> f64) -> Vec<usize> {
    let total: f64 = (0..n).map(&cost).sum();
    let mut bounds = vec![0];
    let mut running = 0.0;
    for i in 0..n {
        running += cost(i);
        let k = bounds.len();
        if k < parts && running >= total * k as f64 / parts as f64 {
            bounds.push(i + 1);
        }
    }
    while bounds.len() <= parts {
        bounds.push(n);
    }
    bounds
}

/// Solves every row of `rows` (the solved side's entries) on its own; `x`
/// holds the rows' factors (f a row), updated in place.
pub(super) fn solve_rows(pb: &Problem, rows: &Rows, threads: usize, x: &mut [f64]) {
    let n = rows.start.len() - 1;
    let f = pb.f;
    let bounds = split(n, threads.max(1), |i| {
        (2 * (rows.start[i + 1] - rows.start[i]) + f) as f64
    });
    on_ranges(x, f, &bounds, |range, mine| match Best::detect() {
        Best::Portable(l) => rows_with(l, pb, rows, range, mine),
        // SAFETY: `detect` checked the CPU.
        #[cfg(target_arch = "x86_64")]
        Best::Avx2(l) => unsafe { rows_avx2(l, pb, rows, range, mine) },
    });
}

/// Runs `work` on a thread per range of rows between consecutive `bounds`,
/// each with its own rows of `x` (f values a row).
fn on_ranges(
    x: &mut [f64],
    f: usize,
    bounds: &[usize],
    work: impl Fn(std::ops::Range<usize>, &mut [f64]) + Sync,
) {
    let work = &work;
    std::thread::scope(|scope| {
        let mut rest = x;
        for w in bounds.windows(2) {
            let (mine, tail) = rest.split_at_mut((w[1] - w[0]) * f);
            rest = tail;
            let range = w[0]..w[1];
            scope.spawn(move || work(range, mine));
        }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_avx2(l: Avx2, pb: &Problem, rows: &Rows, range: std::ops::Range<usize>, x: &mut [f64]) {
    rows_with(l, pb, rows, range, x);
}

/// The rows `range` (their factors `x`), one after another.
#[inline(always)]
pub(super) fn rows_with<L: Lanes>(
    l: L,
    pb: &Problem,
    rows: &Rows,
    range: std::ops::Range<usize>,
    x: &mut [f64],
) {
    let (f, stride) = (pb.f, pb.stride);
    let mut buffers = vec![0.0f32; 5 * stride];
    let (x32, rest) = buffers.split_at_mut(stride);
    let (r, rest) = rest.split_at_mut(stride);
    let (p, rest) = rest.split_at_mut(stride);
    let (acc, scratch) = rest.split_at_mut(stride);
    let mut dots = Vec::new();
    for (row, x) in range.zip(x.chunks_exact_mut(f)) {
        let (cols, extra) = rows.row(row);
        if cols.is_empty() {
            // Nothing bought: the optimum is 0 (every p is 0).
            x.fill(0.0);
            continue;
        }
        narrow(x, x32);
        let mut rs = None;
        for pass in 0..=pb.steps {
            let v: &[f32] = if pass == 0 { x32 } else { p };
            // Loops, not iterator adapters: their closures would not
            // inline the vector code.
            dots.clear();
            for &j in cols {
                dots.push(l.dot(pb.other_row(j), v));
            }
            for (d, &e) in dots.iter_mut().zip(extra) {
                *d = coefficient(pass == 0, e as f32, *d);
            }
            l.combine(&dots, |k| pb.other_row(cols[k]), acc);
            let state = State {
                x32,
                r,
                p,
                acc,
                rs: &mut rs,
            };
            if pass == 0 {
                begin(l, pb, state, scratch);
            } else {
                advance(l, pb, x, state, scratch);
            }
            if rs.is_none() {
                break;
            }
        }
    }
}

/// Solves every row of the solved side in lockstep from `by_other` (the
/// entries by rows of the other side, columns = solved rows); `x` holds
/// the solved rows' factors (f a row), updated in place.
pub(super) fn solve_columns(pb: &Problem, by_other: &Rows, threads: usize, x: &mut [f64]) {
    let f = pb.f;
    let n = x.len() / f;
    let mut count = vec![0usize; n];
    for &j in &by_other.cols {
        count[j as usize] += 1;
    }
    let bounds = split(n, threads.max(1), |i| (2 * count[i] + f) as f64);
    let count = &count;
    on_ranges(x, f, &bounds, |range, mine| match Best::detect() {
        Best::Portable(l) => columns_with(l, pb, by_other, count, range, mine),
        // SAFETY: `detect` checked the CPU.
        #[cfg(target_arch = "x86_64")]
        Best::Avx2(l) => unsafe { columns_avx2(l, pb, by_other, count, range, mine) },
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn columns_avx2(
    l: Avx2,
    pb: &Problem,
    by_other: &Rows,
    count: &[usize],
    range: std::ops::Range<usize>,
    x: &mut [f64],
) {
    columns_with(l, pb, by_other, count, range, x);
}

/// The solved rows `range` (their factors `x`), in lockstep.
#[inline(always)]
fn columns_with<L: Lanes>(
    l: L,
    pb: &Problem,
    by_other: &Rows,
    count: &[usize],
    range: std::ops::Range<usize>,
    x: &mut [f64],
) {
    let (f, stride, m) = (pb.f, pb.stride, range.len());
    let (lo, hi) = (range.start as u32, range.end as u32);
    let mut x32 = vec![0.0f32; m * stride];
    let (mut r, mut p, mut acc) = (x32.clone(), x32.clone(), x32.clone());
    let mut scratch = vec![0.0f32; stride];
    let mut rs: Vec<Option<f64>> = vec![Some(0.0); m];
    for (k, xk) in x.chunks_exact_mut(f).enumerate() {
        if count[range.start + k] == 0 {
            // Nothing bought: the optimum is 0.
            xk.fill(0.0);
            rs[k] = None;
        }
        narrow(xk, &mut x32[k * stride..][..stride]);
    }
    let mut dots = Vec::new();
    for pass in 0..=pb.steps {
        if rs.iter().all(Option::is_none) {
            break;
        }
        let v = if pass == 0 { &x32 } else { &p };
        acc.fill(0.0);
        for (u, y) in pb.other.chunks_exact(stride).enumerate() {
            let (cols, extra) = by_other.row(u);
            // The row's columns ascend: ours are one run of them.
            let a = cols.partition_point(|&j| j < lo);
            let b = a + cols[a..].partition_point(|&j| j < hi);
            if a == b {
                continue;
            }
            let (cols, extra) = (&cols[a..b], &extra[a..b]);
            dots.clear();
            for &j in cols {
                let k = (j - lo) as usize;
                dots.push(if rs[k].is_some() {
                    l.dot(y, &v[k * stride..][..stride])
                } else {
                    0.0
                });
            }
            for ((&j, &e), &s) in cols.iter().zip(extra).zip(&dots) {
                let k = (j - lo) as usize;
                if rs[k].is_some() {
                    let c = coefficient(pass == 0, e as f32, s);
                    l.axpy(c, y, &mut acc[k * stride..][..stride]);
                }
            }
        }
        for (k, xk) in x.chunks_exact_mut(f).enumerate() {
            if rs[k].is_none() {
                continue;
            }
            let block = k * stride..(k + 1) * stride;
            let state = State {
                x32: &mut x32[block.clone()],
                r: &mut r[block.clone()],
                p: &mut p[block.clone()],
                acc: &mut acc[block],
                rs: &mut rs[k],
            };
            if pass == 0 {
                begin(l, pb, state, &mut scratch);
            } else {
                advance(l, pb, xk, state, &mut scratch);
            }
        }
    }
}
