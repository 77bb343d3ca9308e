//! Implicit-feedback ALS (Hu, Koren and Volinsky 2008): customer factors
//! xᵤ and item factors yᵢ minimising
//!
//! L = Σᵤᵢ cᵤᵢ (pᵤᵢ − xᵤ·yᵢ)² + λ (Σᵤ ‖xᵤ‖² + Σᵢ ‖yᵢ‖²),
//!
//! over every (customer, item) pair, pᵤᵢ = 1 where the customer bought the
//! item (weight rᵤᵢ > 0) and 0 elsewhere, confidence cᵤᵢ = 1 + α·rᵤᵢ (1
//! where nothing was bought). Each half-step solves every customer (then
//! every item) against the other side: (YᵀY + Σᵢ∈I(u) (cᵤᵢ − 1) yᵢyᵢᵀ + λI) xᵤ
//! = Σᵢ∈I(u) cᵤᵢ yᵢ, YᵀY shared. By default a few conjugate-gradient steps
//! from the previous factors (Takács et al. 2011, what `implicit` does):
//! O(steps·(nnz·f + n·f²)) a step, and each row's quadratic only falls, so L
//! never rises (to the f32 rounding of the products, see [`cg`]; the
//! factors themselves stay f64). `cg_steps` 0 solves exactly by Cholesky
//! instead, in f64, O(nnz·f² + n·f³). The `implicit` package (PyPI) minimises the same loss when given
//! the confidences 1 + α·r as its matrix (its own alpha 1).
//!
//! Deterministic for a seed whatever the thread count: the starting
//! factors hash (seed, side, row, factor), rows are solved independently
//! and every sum runs in a fixed order.

mod cg;
mod lanes;

use crate::logistic::cholesky_solve;

/// What a fit is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsOptions {
    /// f, factors per customer and item.
    pub factors: usize,
    /// λ.
    pub regularization: f64,
    /// α: confidence 1 + α·r.
    pub alpha: f64,
    /// Alternations (each solves customers, then items).
    pub iterations: usize,
    /// Seed of the starting factors.
    pub seed: u64,
    /// Threads for the solves.
    pub threads: usize,
    /// Conjugate-gradient steps per row and half-step, from the previous
    /// factors; 0 solves each row exactly (Cholesky).
    pub cg_steps: usize,
}

impl Default for AlsOptions {
    fn default() -> Self {
        Self {
            factors: 64,
            regularization: 0.01,
            alpha: 1.0,
            iterations: 15,
            seed: 42,
            threads: 1,
            cg_steps: 3,
        }
    }
}

/// Fitted factors, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsFit {
    /// Customers × f.
    pub users: Vec<f64>,
    /// Items × f.
    pub items: Vec<f64>,
    /// L after each iteration.
    pub loss: Vec<f64>,
}

/// A sparse matrix by rows: per entry its column and confidence − 1 = α·r,
/// columns ascending within a row.
struct Rows {
    start: Vec<usize>,
    cols: Vec<u32>,
    extra: Vec<f64>,
}

impl Rows {
    /// Two stable counting sorts (by column, then by row): linear in the
    /// entries, where a comparison sort of 23M took seconds.
    fn new(n: usize, n_cols: usize, triples: impl Iterator<Item = (u32, u32, f64)>) -> Self {
        let all: Vec<(u32, u32, f64)> = triples.collect();
        let offsets = |key: &dyn Fn(&(u32, u32, f64)) -> usize, m: usize| {
            let mut start = vec![0; m + 1];
            for t in &all {
                start[key(t) + 1] += 1;
            }
            for i in 0..m {
                start[i + 1] += start[i];
            }
            start
        };
        let mut next = offsets(&|t| t.1 as usize, n_cols);
        let mut by_col = vec![0usize; all.len()];
        for (k, t) in all.iter().enumerate() {
            by_col[next[t.1 as usize]] = k;
            next[t.1 as usize] += 1;
        }
        let start = offsets(&|t| t.0 as usize, n);
        let mut next = start.clone();
        let (mut cols, mut extra) = (vec![0; all.len()], vec![0.0; all.len()]);
        for &k in &by_col {
            let t = all[k];
            cols[next[t.0 as usize]] = t.1;
            extra[next[t.0 as usize]] = t.2;
            next[t.0 as usize] += 1;
        }
        Self { start, cols, extra }
    }

    fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let range = self.start[i]..self.start[i + 1];
        (&self.cols[range.clone()], &self.extra[range])
    }

    fn rows(&self) -> usize {
        self.start.len() - 1
    }
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Starting factors: uniform in [0, 0.01), hashed from (seed, side, row,
/// factor), as `implicit` starts (its own random numbers).
fn start(n: usize, f: usize, seed: u64, side: u64) -> Vec<f64> {
    (0..n * f)
        .map(|k| {
            let h = mix(mix(seed ^ side.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ k as u64);
            (h >> 11) as f64 / (1u64 << 53) as f64 * 0.01
        })
        .collect()
}

/// a·b over eight interleaved partial sums: a single running sum waits on
/// each addition in turn, eight independent ones vectorize. A fixed order,
/// so the same bits on every run.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
        + tail
}

/// Rows of the Gram matrix's blocks: fixed, so its sums run in the same
/// order whatever the thread count.
const GRAM_BLOCK: usize = 4096;

/// The full f × f Gram matrix Σ v vᵀ over the rows of `m`, in f64: per block
/// of rows the lower triangle four rows at a time (a quarter of the loads
/// and stores of the sums), the blocks shared among `threads` and added in
/// order.
fn gram_of(m: &[f64], f: usize, threads: usize) -> Vec<f64> {
    let blocks: Vec<&[f64]> = m.chunks(GRAM_BLOCK * f).collect();
    let mut partial = vec![vec![0.0; f * f]; blocks.len()];
    let per = blocks.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (mine, sums) in blocks.chunks(per).zip(partial.chunks_mut(per)) {
            scope.spawn(move || {
                for (block, g) in mine.iter().zip(sums) {
                    add_block_lower(g, block, f);
                }
            });
        }
    });
    let mut g = vec![0.0; f * f];
    for p in &partial {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    for a in 0..f {
        for b in 0..a {
            g[b * f + a] = g[a * f + b];
        }
    }
    g
}

/// Adds Σ v vᵀ over the rows `v` of `block` to the lower triangle of `g`.
fn add_block_lower(g: &mut [f64], block: &[f64], f: usize) {
    let mut quads = block.chunks_exact(4 * f);
    for q in &mut quads {
        let (v0, v1, v2, v3) = (&q[..f], &q[f..2 * f], &q[2 * f..3 * f], &q[3 * f..]);
        for a in 0..f {
            let (c0, c1, c2, c3) = (v0[a], v1[a], v2[a], v3[a]);
            let row = &mut g[a * f..a * f + a + 1];
            for (k, o) in row.iter_mut().enumerate() {
                *o += (c0 * v0[k] + c1 * v1[k]) + (c2 * v2[k] + c3 * v3[k]);
            }
        }
    }
    for v in quads.remainder().chunks_exact(f) {
        for a in 0..f {
            for (o, vb) in g[a * f..a * f + a + 1].iter_mut().zip(&v[..=a]) {
                *o += v[a] * vb;
            }
        }
    }
}

/// The entries a plan reads.
fn need(rows: Option<&Rows>) -> &Rows {
    rows.expect("the plan's entries")
}

/// Which way a half-step solves its rows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// Cholesky per row, from the solved side's entries.
    Exact,
    /// CG per row, from the solved side's entries ([`cg::solve_rows`]).
    Rows,
    /// CG in lockstep, from the other side's entries ([`cg::solve_columns`]).
    Columns,
}

/// f32 values of the solved side's CG vectors below which the column way
/// keeps them in cache (four vectors a row: 4 MiB).
const COLUMN_LIMIT: usize = 1 << 18;

impl Plan {
    fn of(solved: usize, other: usize, stride: usize, cg_steps: usize) -> Self {
        if cg_steps == 0 {
            Plan::Exact
        } else if solved * stride <= COLUMN_LIMIT && solved <= other {
            Plan::Columns
        } else {
            Plan::Rows
        }
    }
}

/// The rows of `m` (f each) in f32, padded with zeros to `stride`.
fn narrow_rows(m: &[f64], f: usize, stride: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; m.len() / f * stride];
    for (o, v) in out.chunks_exact_mut(stride).zip(m.chunks_exact(f)) {
        for (a, b) in o.iter_mut().zip(v) {
            *a = *b as f32;
        }
    }
    out
}

/// The other side's factors and G = YᵀY + λI in f32, rows padded.
fn f32_problem(other: &[f64], gram: &[f64], f: usize, lambda: f64) -> (Vec<f32>, Vec<f32>) {
    let stride = f.next_multiple_of(lanes::PAD);
    let mut g = vec![0.0f32; stride * stride];
    for a in 0..f {
        for b in 0..f {
            g[a * stride + b] = (gram[a * f + b] + if a == b { lambda } else { 0.0 }) as f32;
        }
    }
    (narrow_rows(other, f, stride), g)
}

/// Solves every row of one side against the other side's factors `other`
/// (`gram` = their Gram matrix): `by_solved` holds the entries by solved
/// rows, `by_other` by rows of the other side; the plan says which it
/// needs.
#[allow(clippy::too_many_arguments)]
fn half_step(
    plan: Plan,
    by_solved: Option<&Rows>,
    by_other: Option<&Rows>,
    other: &[f64],
    gram: &[f64],
    f: usize,
    lambda: f64,
    threads: usize,
    cg_steps: usize,
    out: &mut [f64],
) -> Result<(), String> {
    if plan == Plan::Exact {
        return exact_step(need(by_solved), other, gram, f, lambda, threads, out);
    }
    let (other, g) = f32_problem(other, gram, f, lambda);
    let problem = cg::Problem {
        other: &other,
        gram: &g,
        f,
        stride: f.next_multiple_of(lanes::PAD),
        steps: cg_steps,
    };
    if plan == Plan::Columns {
        cg::solve_columns(&problem, need(by_other), threads, out);
    } else {
        cg::solve_rows(&problem, need(by_solved), threads, out);
    }
    Ok(())
}

/// Solves every row exactly (Cholesky of YᵀY + λI + Σ eⱼ yⱼyⱼᵀ), in f64.
fn exact_step(
    rows: &Rows,
    other: &[f64],
    gram: &[f64],
    f: usize,
    lambda: f64,
    threads: usize,
    out: &mut [f64],
) -> Result<(), String> {
    let mut gram = gram.to_vec();
    for a in 0..f {
        gram[a * f + a] += lambda;
    }
    let n = rows.rows();
    let per = n.div_ceil(threads.max(1)).max(1);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for (t, chunk) in out.chunks_mut(per * f).enumerate() {
            let (gram, failed) = (&gram, &failed);
            scope.spawn(move || {
                let mut a = vec![0.0; f * f];
                let mut b = vec![0.0; f];
                for (j, x) in chunk.chunks_exact_mut(f).enumerate() {
                    let (cols, extra) = rows.row(t * per + j);
                    if cols.is_empty() {
                        // Nothing bought: the optimum is 0 (every p is 0).
                        x.fill(0.0);
                        continue;
                    }
                    a.copy_from_slice(gram);
                    b.fill(0.0);
                    for (&i, &extra) in cols.iter().zip(extra) {
                        let y = &other[i as usize * f..(i as usize + 1) * f];
                        for p in 0..f {
                            b[p] += (1.0 + extra) * y[p];
                            let ey = extra * y[p];
                            for q in 0..f {
                                a[p * f + q] += ey * y[q];
                            }
                        }
                    }
                    match cholesky_solve(&a, &b, f) {
                        Some(solution) => x.copy_from_slice(&solution),
                        None => failed.store(true, std::sync::atomic::Ordering::Relaxed),
                    }
                }
            });
        }
    });
    if failed.into_inner() {
        return Err(
            "a factor system is not positive definite (regularization 0 with too few items?)"
                .into(),
        );
    }
    Ok(())
}

/// L for factors `users` and `items` (see the module documentation).
pub fn loss(
    rows: &[(u32, u32, f64)],
    users: &[f64],
    items: &[f64],
    f: usize,
    alpha: f64,
    lambda: f64,
) -> f64 {
    let (gx, gy) = (gram_of(users, f, 1), gram_of(items, f, 1));
    let observed = rows
        .iter()
        .map(|&(u, i, r)| pair_term(users, items, f, u, i, alpha * r))
        .sum();
    loss_of(observed, &gx, &gy, f, lambda)
}

/// An observed pair's correction to Σ (x·y)²: c (1 − s)² − s² for s = x·y,
/// c = 1 + α·r.
#[inline]
fn pair_term(users: &[f64], items: &[f64], f: usize, u: u32, i: u32, extra: f64) -> f64 {
    let s = dot(&users[u as usize * f..][..f], &items[i as usize * f..][..f]);
    (1.0 + extra) * (1.0 - s) * (1.0 - s) - s * s
}

/// Σ of [`pair_term`] over the entries by customer, in fixed blocks of
/// customers shared among `threads` and added in order.
fn observed_terms(by_user: &Rows, users: &[f64], items: &[f64], f: usize, threads: usize) -> f64 {
    let n = by_user.rows();
    let blocks = n.div_ceil(GRAM_BLOCK);
    let mut partial = vec![0.0; blocks];
    let per = blocks.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (t, sums) in partial.chunks_mut(per).enumerate() {
            scope.spawn(move || {
                for (b, sum) in sums.iter_mut().enumerate() {
                    let first = (t * per + b) * GRAM_BLOCK;
                    for u in first..(first + GRAM_BLOCK).min(n) {
                        let (cols, extra) = by_user.row(u);
                        for (&i, &e) in cols.iter().zip(extra) {
                            *sum += pair_term(users, items, f, u as u32, i, e);
                        }
                    }
                }
            });
        }
    });
    partial.iter().sum()
}

/// L from the Gram matrices and the observed pairs' corrections: Σ over
/// all pairs of (x·y)² is Σ_ab (XᵀX)_ab (YᵀY)_ab.
fn loss_of(observed: f64, gx: &[f64], gy: &[f64], f: usize, lambda: f64) -> f64 {
    let all: f64 = gx.iter().zip(gy).map(|(a, b)| a * b).sum();
    // ‖X‖² is the trace of XᵀX.
    let trace = |g: &[f64]| (0..f).map(|a| g[a * f + a]).sum::<f64>();
    all + observed + lambda * (trace(gx) + trace(gy))
}

/// Fits factors to `rows` (customer, item, weight r > 0; one entry per
/// pair) of `n_users` × `n_items`.
pub fn fit(
    n_users: usize,
    n_items: usize,
    rows: &[(u32, u32, f64)],
    options: &AlsOptions,
) -> Result<AlsFit, String> {
    let f = options.factors;
    if f == 0 || f > 1024 {
        return Err(format!("factors must be from 1 to 1024, got {f}"));
    }
    if !(options.regularization >= 0.0 && options.regularization.is_finite()) {
        return Err(format!(
            "regularization must be a finite number ≥ 0, got {}",
            options.regularization
        ));
    }
    if !(options.alpha >= 0.0 && options.alpha.is_finite()) {
        return Err(format!(
            "alpha must be a finite number ≥ 0, got {}",
            options.alpha
        ));
    }
    if rows.is_empty() {
        return Err("no interactions to fit".into());
    }
    for &(u, i, r) in rows {
        if u as usize >= n_users || i as usize >= n_items {
            return Err(format!(
                "interaction ({u}, {i}) is outside {n_users} × {n_items}"
            ));
        }
        if !(r > 0.0 && r.is_finite()) {
            return Err(format!(
                "interaction ({u}, {i}) has weight {r}: weights must be finite and > 0"
            ));
        }
    }
    let by_user = Rows::new(
        n_users,
        n_items,
        rows.iter().map(|&(u, i, r)| (u, i, options.alpha * r)),
    );
    for u in 0..n_users {
        if let Some(w) = by_user.row(u).0.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "customer {u} has item {} twice: sum its weights into one interaction",
                w[0]
            ));
        }
    }
    let stride = f.next_multiple_of(lanes::PAD);
    let (threads, steps, lambda) = (options.threads, options.cg_steps, options.regularization);
    let user_plan = Plan::of(n_users, n_items, stride, steps);
    let item_plan = Plan::of(n_items, n_users, stride, steps);
    // The item-major entries, unless both half-steps read the customer-major
    // ones (customers by rows, items by columns).
    let by_item = (user_plan == Plan::Columns || item_plan != Plan::Columns).then(|| {
        Rows::new(
            n_items,
            n_users,
            rows.iter().map(|&(u, i, r)| (i, u, options.alpha * r)),
        )
    });
    let mut users = start(n_users, f, options.seed, 1);
    let mut items = start(n_items, f, options.seed, 2);
    let mut gy = gram_of(&items, f, threads);
    let mut history = Vec::with_capacity(options.iterations);
    for _ in 0..options.iterations {
        let (user_rows, item_rows) = (Some(&by_user), by_item.as_ref());
        half_step(
            user_plan, user_rows, item_rows, &items, &gy, f, lambda, threads, steps, &mut users,
        )?;
        let gx = gram_of(&users, f, threads);
        half_step(
            item_plan, item_rows, user_rows, &users, &gx, f, lambda, threads, steps, &mut items,
        )?;
        gy = gram_of(&items, f, threads);
        let observed = observed_terms(&by_user, &users, &items, f, threads);
        history.push(loss_of(observed, &gx, &gy, f, lambda));
    }
    Ok(AlsFit {
        users,
        items,
        loss: history,
    })
}

#[cfg(test)]
mod tests;
