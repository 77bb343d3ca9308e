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
//! never rises. `cg_steps` 0 solves exactly by Cholesky instead, O(nnz·f² +
//! n·f³). The `implicit` package (PyPI) minimises the same loss when given
//! the confidences 1 + α·r as its matrix (its own alpha 1).
//!
//! Deterministic for a seed whatever the thread count: the starting
//! factors hash (seed, side, row, factor), rows are solved independently
//! and every sum runs in a fixed order.

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

/// A sparse matrix by rows: `(column, confidence − 1 = α·r)` per entry.
struct Rows {
    start: Vec<usize>,
    entries: Vec<(u32, f64)>,
}

impl Rows {
    fn new(n: usize, triples: impl Iterator<Item = (u32, u32, f64)>) -> Self {
        let mut all: Vec<(u32, u32, f64)> = triples.collect();
        all.sort_by_key(|t| (t.0, t.1));
        let mut start = vec![0; n + 1];
        for t in &all {
            start[t.0 as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        Self {
            start,
            entries: all.into_iter().map(|t| (t.1, t.2)).collect(),
        }
    }

    fn row(&self, i: usize) -> &[(u32, f64)] {
        &self.entries[self.start[i]..self.start[i + 1]]
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

/// Scratch of the conjugate-gradient solves of one thread.
struct Cg {
    r: Vec<f64>,
    p: Vec<f64>,
    ap: Vec<f64>,
}

impl Cg {
    fn new(f: usize) -> Self {
        Self {
            r: vec![0.0; f],
            p: vec![0.0; f],
            ap: vec![0.0; f],
        }
    }

    /// out = A·v for A = `gram` + Σ extra·y yᵀ over `entries`, without
    /// forming A; written as sums of scaled rows so they vectorize.
    fn product(gram: &[f64], entries: &[(u32, f64)], other: &[f64], v: &[f64], out: &mut [f64]) {
        let f = v.len();
        out.fill(0.0);
        for (g, vb) in gram.chunks_exact(f).zip(v) {
            for (o, gv) in out.iter_mut().zip(g) {
                *o += vb * gv;
            }
        }
        for &(i, extra) in entries {
            let y = &other[i as usize * f..(i as usize + 1) * f];
            let c = extra * dot(y, v);
            for (o, yv) in out.iter_mut().zip(y) {
                *o += c * yv;
            }
        }
    }

    /// `steps` conjugate-gradient steps on A·x = b from x (b = Σ (1 +
    /// extra)·y over `entries`).
    fn solve(
        &mut self,
        gram: &[f64],
        entries: &[(u32, f64)],
        other: &[f64],
        x: &mut [f64],
        steps: usize,
    ) {
        let f = x.len();
        Self::product(gram, entries, other, x, &mut self.ap);
        for (r, ax) in self.r.iter_mut().zip(&self.ap) {
            *r = -ax;
        }
        for &(i, extra) in entries {
            let y = &other[i as usize * f..(i as usize + 1) * f];
            for (r, yv) in self.r.iter_mut().zip(y) {
                *r += (1.0 + extra) * yv;
            }
        }
        self.p.copy_from_slice(&self.r);
        let mut rs = dot(&self.r, &self.r);
        for _ in 0..steps {
            if rs < 1e-20 {
                break;
            }
            Self::product(gram, entries, other, &self.p, &mut self.ap);
            let step = rs / dot(&self.p, &self.ap);
            if !step.is_finite() {
                break;
            }
            for ((xv, pv), (rv, apv)) in x
                .iter_mut()
                .zip(&self.p)
                .zip(self.r.iter_mut().zip(&self.ap))
            {
                *xv += step * pv;
                *rv -= step * apv;
            }
            let next = dot(&self.r, &self.r);
            let beta = next / rs;
            for (pv, rv) in self.p.iter_mut().zip(&self.r) {
                *pv = rv + beta * *pv;
            }
            rs = next;
        }
    }
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

/// Adds v vᵀ to the lower triangle of `gram` (f × f, row-major), row by
/// row as slices so it vectorizes.
fn add_outer_lower(gram: &mut [f64], v: &[f64]) {
    let f = v.len();
    for (a, va) in v.iter().enumerate() {
        for (g, vb) in gram[a * f..a * f + a + 1].iter_mut().zip(&v[..=a]) {
            *g += va * vb;
        }
    }
}

/// The full f × f Gram matrix Σ v vᵀ over the rows of `m`.
fn gram_of(m: &[f64], f: usize) -> Vec<f64> {
    let mut g = vec![0.0; f * f];
    for v in m.chunks_exact(f) {
        add_outer_lower(&mut g, v);
    }
    for a in 0..f {
        for b in 0..a {
            g[b * f + a] = g[a * f + b];
        }
    }
    g
}

/// Solves every row of `rows` against the other side's factors `other`.
fn half_step(
    rows: &Rows,
    other: &[f64],
    f: usize,
    lambda: f64,
    threads: usize,
    cg_steps: usize,
    out: &mut [f64],
) -> Result<(), String> {
    // YᵀY + λI, once.
    let mut gram = gram_of(other, f);
    for a in 0..f {
        gram[a * f + a] += lambda;
    }
    let n = rows.start.len() - 1;
    let per = n.div_ceil(threads.max(1)).max(1);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for (t, chunk) in out.chunks_mut(per * f).enumerate() {
            let (gram, failed) = (&gram, &failed);
            scope.spawn(move || {
                let mut a = vec![0.0; f * f];
                let mut b = vec![0.0; f];
                let mut cg = Cg::new(f);
                for (j, x) in chunk.chunks_exact_mut(f).enumerate() {
                    let entries = rows.row(t * per + j);
                    if entries.is_empty() {
                        // Nothing bought: the optimum is 0 (every p is 0).
                        x.fill(0.0);
                        continue;
                    }
                    if cg_steps > 0 {
                        cg.solve(gram, entries, other, x, cg_steps);
                        continue;
                    }
                    a.copy_from_slice(gram);
                    b.fill(0.0);
                    for &(i, extra) in entries {
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
    // Σ over all pairs of (x·y)² = Σ_ab (XᵀX)_ab (YᵀY)_ab; then correct the
    // observed pairs.
    let (gx, gy) = (gram_of(users, f), gram_of(items, f));
    let mut total: f64 = gx.iter().zip(&gy).map(|(a, b)| a * b).sum();
    for &(u, i, r) in rows {
        let s = dot(&users[u as usize * f..][..f], &items[i as usize * f..][..f]);
        total += (1.0 + alpha * r) * (1.0 - s) * (1.0 - s) - s * s;
    }
    let norm = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>();
    total + lambda * (norm(users) + norm(items))
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
        rows.iter().map(|&(u, i, r)| (u, i, options.alpha * r)),
    );
    let by_item = Rows::new(
        n_items,
        rows.iter().map(|&(u, i, r)| (i, u, options.alpha * r)),
    );
    for u in 0..n_users {
        if let Some(w) = by_user.row(u).windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "customer {u} has item {} twice: sum its weights into one interaction",
                w[0].0
            ));
        }
    }
    let mut users = start(n_users, f, options.seed, 1);
    let mut items = start(n_items, f, options.seed, 2);
    let mut history = Vec::with_capacity(options.iterations);
    for _ in 0..options.iterations {
        half_step(
            &by_user,
            &items,
            f,
            options.regularization,
            options.threads,
            options.cg_steps,
            &mut users,
        )?;
        half_step(
            &by_item,
            &users,
            f,
            options.regularization,
            options.threads,
            options.cg_steps,
            &mut items,
        )?;
        history.push(loss(
            rows,
            &users,
            &items,
            f,
            options.alpha,
            options.regularization,
        ));
    }
    Ok(AlsFit {
        users,
        items,
        loss: history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two blocks of customers × items: 0–3 buy items 0–2, 4–7 items 3–5.
    fn blocks() -> Vec<(u32, u32, f64)> {
        let mut rows = Vec::new();
        for u in 0..8u32 {
            for i in 0..6u32 {
                if (u < 4) == (i < 3) && (u + i) % 4 != 0 {
                    rows.push((u, i, 1.0 + f64::from(u % 3)));
                }
            }
        }
        rows
    }

    #[test]
    fn loss_never_rises_and_blocks_separate() {
        for cg_steps in [0, 3] {
            let options = AlsOptions {
                factors: 4,
                regularization: 0.1,
                alpha: 2.0,
                iterations: 10,
                cg_steps,
                ..AlsOptions::default()
            };
            loss_falls_and_blocks_separate(&fit(8, 6, &blocks(), &options).unwrap());
        }
    }

    fn loss_falls_and_blocks_separate(fit: &AlsFit) {
        for w in fit.loss.windows(2) {
            assert!(w[1] <= w[0] * (1.0 + 1e-12), "{:?}", fit.loss);
        }
        // Customer 0 scores its block's unbought item 0 above item 4.
        let score = |u: usize, i: usize| -> f64 {
            (0..4)
                .map(|k| fit.users[u * 4 + k] * fit.items[i * 4 + k])
                .sum()
        };
        assert!(
            score(0, 0) > score(0, 4) + 0.1,
            "{} vs {}",
            score(0, 0),
            score(0, 4)
        );
    }

    /// One exact half-step by hand: one item factor y = [2], λ = 1, a
    /// customer who bought it with r = 1, α = 3: (y² + 3y² + 1) x = 4y.
    #[test]
    fn a_half_step_solves_the_normal_equations() {
        let rows = Rows::new(1, std::iter::once((0, 0, 3.0)));
        let mut x = [0.0];
        half_step(&rows, &[2.0], 1, 1.0, 1, 0, &mut x).unwrap();
        assert!((x[0] - 8.0 / 17.0).abs() < 1e-15, "{x:?}");
        // One conjugate-gradient step solves a 1 × 1 system.
        let mut x_cg = [0.3];
        half_step(&rows, &[2.0], 1, 1.0, 1, 1, &mut x_cg).unwrap();
        assert!((x_cg[0] - 8.0 / 17.0).abs() < 1e-14, "{x_cg:?}");
        // The loss at that point by the definition: c (1 − xy)² + λ(x² + y²).
        let l = loss(&[(0, 0, 1.0)], &x, &[2.0], 1, 3.0, 1.0);
        let s = 2.0 * x[0];
        assert!((l - (4.0 * (1.0 - s).powi(2) + x[0] * x[0] + 4.0)).abs() < 1e-12);
    }

    /// With as many steps as factors, conjugate gradients reach the exact
    /// solve (in exact arithmetic; here to rounding).
    #[test]
    fn enough_conjugate_gradient_steps_equal_the_exact_solve() {
        let exact = AlsOptions {
            factors: 3,
            regularization: 0.1,
            alpha: 2.0,
            iterations: 4,
            cg_steps: 0,
            ..AlsOptions::default()
        };
        let a = fit(8, 6, &blocks(), &exact).unwrap();
        let b = fit(
            8,
            6,
            &blocks(),
            &AlsOptions {
                cg_steps: 6,
                ..exact.clone()
            },
        )
        .unwrap();
        for (x, y) in a
            .users
            .iter()
            .chain(&a.items)
            .zip(b.users.iter().chain(&b.items))
        {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
        // Three steps do nearly as well on the loss.
        let c = fit(
            8,
            6,
            &blocks(),
            &AlsOptions {
                cg_steps: 3,
                ..exact
            },
        )
        .unwrap();
        let (la, lc) = (a.loss[3], c.loss[3]);
        assert!(lc >= la * (1.0 - 1e-12) && lc <= la * 1.01, "{la} vs {lc}");
    }

    #[test]
    fn the_same_factors_whatever_the_threads() {
        let options = AlsOptions {
            factors: 3,
            iterations: 3,
            ..AlsOptions::default()
        };
        let one = fit(8, 6, &blocks(), &options).unwrap();
        let four = fit(
            8,
            6,
            &blocks(),
            &AlsOptions {
                threads: 4,
                ..options
            },
        )
        .unwrap();
        assert_eq!(one, four);
    }

    #[test]
    fn bad_input_is_named() {
        let options = AlsOptions::default();
        assert!(
            fit(2, 2, &[], &options)
                .unwrap_err()
                .contains("no interactions")
        );
        assert!(
            fit(2, 2, &[(0, 5, 1.0)], &options)
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            fit(2, 2, &[(0, 1, 0.0)], &options)
                .unwrap_err()
                .contains("weight")
        );
        assert!(
            fit(2, 2, &[(0, 1, 1.0), (0, 1, 2.0)], &options)
                .unwrap_err()
                .contains("twice")
        );
        let zero = AlsOptions {
            factors: 0,
            ..options
        };
        assert!(
            fit(2, 2, &[(0, 1, 1.0)], &zero)
                .unwrap_err()
                .contains("factors")
        );
    }
}
