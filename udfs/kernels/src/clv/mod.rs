//! Customer lifetime value: BG/NBD (Fader, Hardie & Lee 2005) for purchase
//! counts and Gamma-Gamma (Fader, Hardie & Lee 2005b) for spend, fitted by
//! maximum likelihood in log space.
//!
//! Inputs follow lifetimes' `summary_data_from_transaction_data`: per
//! customer `x` (repeat purchase periods), `t_x` (recency: first to last
//! purchase period), `T` (first purchase period to the end of observation)
//! and `m` (mean value of the repeat purchases).
//!
//! Numerics: every likelihood term is a log-gamma or log, combined with
//! log-sum-exp, so large counts never overflow; identical rows are merged
//! with weights, so millions of customers cost as much as their distinct
//! (x, t_x, T) triples. The special functions depend on x alone or on one
//! time, so an evaluation computes them per distinct value and a row costs
//! one exp and one log. Fits run BFGS on log-parameters with analytic
//! gradients (ψ below) and sum rows on all cores ([`crate::optimize`]).

use serde::{Deserialize, Serialize};

use crate::optimize::{Minimum, default_threads, minimize, minimize_warm, par_sum};
use crate::sort;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps accuracy for small arguments.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// ψ(x) = d/dx ln Γ(x), for the likelihoods' gradients: the recurrence
/// ψ(x) = ψ(x+1) − 1/x lifts x to ≥ 10, where the asymptotic series in
/// 1/x² (Bernoulli numbers, through x⁻¹²) is good to ~1e-16; reflection
/// covers negative non-integers.
pub fn digamma(x: f64) -> f64 {
    if x <= 0.0 && x == x.floor() {
        return f64::NAN;
    }
    if x < 0.0 {
        let pi = std::f64::consts::PI;
        return digamma(1.0 - x) - pi / (pi * x).tan();
    }
    let (mut x, mut shift) = (x, 0.0);
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let y = 1.0 / (x * x);
    let series = y
        * (1.0 / 12.0
            - y * (1.0 / 120.0
                - y * (1.0 / 252.0 - y * (1.0 / 240.0 - y * (1.0 / 132.0 - y * 691.0 / 32760.0)))));
    shift + x.ln() - 0.5 / x - series
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// Gauss's hypergeometric 2F1(a, b; c; z) for 0 ≤ z < 1 by its series,
/// summed until terms stop mattering.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..1_000_000 {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-16 * sum.abs() {
            break;
        }
    }
    sum
}

/// Fitted BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale (rate) of the purchase-rate gamma.
    pub alpha: f64,
    /// Drop-out beta, a.
    pub a: f64,
    /// Drop-out beta, b.
    pub b: f64,
}

impl BgNbd {
    /// ln L of one customer.
    pub fn log_likelihood(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_beta(a, b + x) - ln_beta(a, b);
        let a3 = -(r + x) * (alpha + t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
            let m = a3.max(a4);
            a1 + a2 + m + ((a3 - m).exp() + (a4 - m).exp()).ln()
        } else {
            a1 + a2 + a3
        }
    }

    /// P(still alive | x, t_x, T).
    pub fn p_alive(&self, x: f64, t_x: f64, t: f64) -> f64 {
        if x == 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let log_ratio = (a / (b + x - 1.0)).ln() + (r + x) * ((alpha + t) / (alpha + t_x)).ln();
        1.0 / (1.0 + log_ratio.exp())
    }

    /// E[purchases in the next `horizon` periods | x, t_x, T].
    pub fn expected_purchases(&self, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let z = horizon / (alpha + t + horizon);
        let head = (a + b + x - 1.0) / (a - 1.0);
        let power = ((alpha + t) / (alpha + t + horizon)).powf(r + x);
        let body = 1.0 - power * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        head * body * self.p_alive(x, t_x, t)
    }
}

/// Fitted Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of a transaction's value around the customer's mean.
    pub p: f64,
    /// Shape of the customers' mean-spend gamma.
    pub q: f64,
    /// Scale of the customers' mean-spend gamma.
    pub v: f64,
}

impl GammaGamma {
    /// ln L of one customer with `x` repeat purchases of mean value `m`.
    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * v.ln()
            + (p * x - 1.0) * m.ln()
            + (p * x) * x.ln()
            - (p * x + q) * (x * m + v).ln()
    }

    /// E[mean transaction value | x, m].
    pub fn expected_avg_spend(&self, x: f64, m: f64) -> f64 {
        let GammaGamma { p, q, v } = *self;
        p * (v + x * m) / (p * x + q - 1.0)
    }
}

/// The result of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Parameters in the model's order.
    pub params: Vec<f64>,
    /// Mean log-likelihood per customer at the optimum.
    pub mean_log_likelihood: f64,
    /// Optimizer iterations (all starts).
    pub iterations: u32,
    /// Likelihood (and gradient) evaluations over the data.
    pub evaluations: u32,
    /// Largest absolute gradient component of the mean negative
    /// log-likelihood in log-parameters at the optimum.
    pub gradient_norm: f64,
    /// Distinct training rows the likelihood sums over (identical rows
    /// are one term with a weight).
    pub distinct_rows: usize,
    /// Whether the gradient reached the optimizer's tolerance.
    pub converged: bool,
}

impl<const N: usize> From<Minimum<N>> for Fitted {
    fn from(m: Minimum<N>) -> Self {
        Fitted {
            params: m.x.iter().map(|v| v.exp()).collect(),
            mean_log_likelihood: -m.value,
            iterations: m.iterations,
            evaluations: m.evaluations,
            gradient_norm: m.gradient_norm,
            converged: m.converged,
            distinct_rows: 0,
        }
    }
}

/// Total weight of each distinct x, for the terms that depend on x alone.
fn weight_per_x(distinct: usize, rows: impl Iterator<Item = (u32, f64)>) -> Vec<f64> {
    let mut weights = vec![0.0; distinct];
    for (x, w) in rows {
        weights[x as usize] += w;
    }
    weights
}

/// One weighted BG/NBD row by indices into the distinct values.
#[derive(Debug, Clone, Copy)]
struct PurchaseRow {
    x: u32,
    t_x: u32,
    t: u32,
    weight: f64,
}

/// BG/NBD training data, factored for evaluation: the parameter-dependent
/// special functions of the likelihood depend on x alone (ln Γ, ψ) or on
/// one of recency and T (ln(α + ·)), so each evaluation computes them once
/// per distinct value, and a row costs one exp and one ln.
struct Purchases {
    xs: Vec<f64>,
    x_weight: Vec<f64>,
    recencies: Vec<f64>,
    ages: Vec<f64>,
    rows: Vec<PurchaseRow>,
    total: f64,
}

impl Purchases {
    /// Rows sorted (so the sum's order, hence the fit, does not depend on
    /// the input's order) and identical ones merged.
    fn new(rows: &[(f64, f64, f64, f64)]) -> Self {
        let (xs, xi) = sort::distinct(rows.iter().map(|r| r.0));
        let (recencies, ri) = sort::distinct(rows.iter().map(|r| r.1));
        let (ages, ai) = sort::distinct(rows.iter().map(|r| r.2));
        let mut indexed: Vec<PurchaseRow> = rows
            .iter()
            .enumerate()
            .map(|(i, &(_, _, _, weight))| PurchaseRow {
                x: xi[i],
                t_x: ri[i],
                t: ai[i],
                weight,
            })
            .collect();
        // The three indices side by side in one key when they fit.
        let bits = |n: usize| usize::BITS - n.leading_zeros();
        let (rb, ab) = (bits(recencies.len()), bits(ages.len()));
        if bits(xs.len()) + rb + ab <= 64 {
            sort::sort_by_key(&mut indexed, |r| {
                (u64::from(r.x) << (rb + ab)) | (u64::from(r.t_x) << ab) | u64::from(r.t)
            });
        } else {
            indexed.sort_by_key(|r| (r.x, r.t_x, r.t));
        }
        let mut merged: Vec<PurchaseRow> = Vec::with_capacity(indexed.len());
        for row in indexed {
            match merged.last_mut() {
                Some(last) if (last.x, last.t_x, last.t) == (row.x, row.t_x, row.t) => {
                    last.weight += row.weight
                }
                _ => merged.push(row),
            }
        }
        let x_weight = weight_per_x(xs.len(), merged.iter().map(|r| (r.x, r.weight)));
        Purchases {
            total: x_weight.iter().sum(),
            xs,
            x_weight,
            recencies,
            ages,
            rows: merged,
        }
    }

    /// Every `step`th row (rows are sorted, so a sample spread over all of
    /// them), with the weights per x recounted.
    fn every(&self, step: usize) -> Purchases {
        let rows: Vec<PurchaseRow> = self.rows.iter().step_by(step).copied().collect();
        let x_weight = weight_per_x(self.xs.len(), rows.iter().map(|r| (r.x, r.weight)));
        Purchases {
            total: x_weight.iter().sum(),
            xs: self.xs.clone(),
            x_weight,
            recencies: self.recencies.clone(),
            ages: self.ages.clone(),
            rows,
        }
    }

    /// Mean negative log-likelihood (plus penalty) and its gradient at
    /// log-parameters `p` = ln(r, α, a, b).
    ///
    /// ln L = A(x) + ln(e^{A3} + [x > 0] e^{A4}) with
    /// A(x) = ln Γ(r+x) − ln Γ(r) + r ln α + ln Γ(b+x) − ln Γ(a+b+x) − ln Γ(b) + ln Γ(a+b),
    /// A3 = −(r+x) ln(α+T), A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x).
    /// With w3, w4 the shares of the two exponentials (a log-sum-exp's
    /// softmax), ∂/∂r = ψ(r+x) − ψ(r) + ln α − w3 ln(α+T) − w4 ln(α+t_x),
    /// ∂/∂α = r/α − (r+x)(w3/(α+T) + w4/(α+t_x)), ∂/∂a = ψ(a+b) − ψ(a+b+x) + w4/a,
    /// ∂/∂b = ψ(b+x) − ψ(a+b+x) − ψ(b) + ψ(a+b) − w4/(b+x−1).
    fn objective(&self, p: &[f64; 4], penalizer: f64, threads: usize) -> (f64, [f64; 4]) {
        let theta = p.map(f64::exp);
        let [r, alpha, a, b] = theta;
        let ln_alpha = alpha.ln();
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (ps_r, ps_b, ps_ab) = (digamma(r), digamma(b), digamma(a + b));
        // Terms of x alone, summed with each x's total weight.
        let mut ll = 0.0;
        let mut d = [0.0; 4];
        let mut ln_b1 = vec![0.0; self.xs.len()];
        let mut inv_b1 = vec![0.0; self.xs.len()];
        for (i, (&x, &w)) in self.xs.iter().zip(&self.x_weight).enumerate() {
            let ps_abx = digamma(a + b + x);
            ll += w
                * (ln_gamma(r + x) - lg_r + r * ln_alpha + ln_gamma(b + x)
                    - ln_gamma(a + b + x)
                    - lg_b
                    + lg_ab);
            d[0] += w * (digamma(r + x) - ps_r + ln_alpha);
            d[1] += w * r / alpha;
            d[2] += w * (ps_ab - ps_abx);
            d[3] += w * (digamma(b + x) - ps_abx - ps_b + ps_ab);
            if x > 0.0 {
                ln_b1[i] = (b + x - 1.0).ln();
                inv_b1[i] = 1.0 / (b + x - 1.0);
            }
        }
        let logs = |values: &[f64]| -> (Vec<f64>, Vec<f64>) {
            values
                .iter()
                .map(|v| ((alpha + v).ln(), 1.0 / (alpha + v)))
                .unzip()
        };
        let (ln_age, inv_age) = logs(&self.ages);
        let (ln_rec, inv_rec) = logs(&self.recencies);
        let ln_a = a.ln();
        let s = par_sum(self.rows.len(), threads, |range| {
            let mut s = [0.0; 5];
            for row in &self.rows[range] {
                let (xi, w) = (row.x as usize, row.weight);
                let x = self.xs[xi];
                let rx = r + x;
                let (ln_t, inv_t) = (ln_age[row.t as usize], inv_age[row.t as usize]);
                let a3 = -rx * ln_t;
                if x > 0.0 {
                    let (ln_tx, inv_tx) = (ln_rec[row.t_x as usize], inv_rec[row.t_x as usize]);
                    let a4 = ln_a - ln_b1[xi] - rx * ln_tx;
                    let e = (-(a3 - a4).abs()).exp();
                    let (hi, lo) = (1.0 / (1.0 + e), e / (1.0 + e));
                    let (w3, w4) = if a3 >= a4 { (hi, lo) } else { (lo, hi) };
                    s[0] += w * (a3.max(a4) + e.ln_1p());
                    s[1] += w * (w3 * ln_t + w4 * ln_tx);
                    s[2] += w * rx * (w3 * inv_t + w4 * inv_tx);
                    s[3] += w * w4;
                    s[4] += w * w4 * inv_b1[xi];
                } else {
                    s[0] += w * a3;
                    s[1] += w * ln_t;
                    s[2] += w * rx * inv_t;
                }
            }
            s
        });
        ll += s[0];
        d[0] -= s[1];
        d[1] -= s[2];
        d[2] += s[3] / a;
        d[3] -= s[4];
        finish(ll, d, theta, self.total, penalizer)
    }
}

/// Mean negative log-likelihood plus penalizer × Σ θ², and its gradient in
/// log-parameters (∂/∂ln θ = θ ∂/∂θ); non-finite values become +∞ so the
/// optimizer backs off.
fn finish<const N: usize>(
    ll: f64,
    d: [f64; N],
    theta: [f64; N],
    total: f64,
    penalizer: f64,
) -> (f64, [f64; N]) {
    let value = -ll / total + penalizer * theta.iter().map(|t| t * t).sum::<f64>();
    let g =
        std::array::from_fn(|i| -theta[i] * d[i] / total + 2.0 * penalizer * theta[i] * theta[i]);
    if value.is_finite() {
        (value, g)
    } else {
        (f64::INFINITY, [f64::NAN; N])
    }
}

/// Fits BG/NBD to weighted rows (x, t_x, T, weight); `penalizer` adds
/// penalizer × Σ params² to the mean negative log-likelihood (lifetimes'
/// convention). Evaluations run on all cores.
pub fn fit_bgnbd(rows: &[(f64, f64, f64, f64)], penalizer: f64) -> Fitted {
    fit_bgnbd_threads(rows, penalizer, default_threads())
}

fn fit_bgnbd_threads(rows: &[(f64, f64, f64, f64)], penalizer: f64, threads: usize) -> Fitted {
    let data = Purchases::new(rows);
    let full = |p: &[f64; 4]| data.objective(p, penalizer, threads);
    let mut fitted: Fitted = if data.rows.len() < WARM_START_FROM {
        minimize(&full).into()
    } else {
        let sample = data.every(WARM_START_STEP);
        minimize_warm(
            &|p: &[f64; 4]| sample.objective(p, penalizer, threads),
            &full,
        )
        .into()
    };
    fitted.distinct_rows = data.rows.len();
    fitted
}

/// Distinct rows from which a BG/NBD fit first fits a sample of them (every
/// [`WARM_START_STEP`]th) and starts the full fit at its optimum: the
/// full likelihood is then evaluated about 8 times instead of about 30.
const WARM_START_FROM: usize = 50_000;
const WARM_START_STEP: usize = 8;

/// One weighted Gamma-Gamma row: its distinct-x index, x, m, ln m.
#[derive(Debug, Clone, Copy)]
struct SpendRow {
    xi: u32,
    x: f64,
    m: f64,
    ln_m: f64,
    weight: f64,
}

/// Gamma-Gamma training data: the ln Γ and ψ terms depend on x alone and
/// are computed once per distinct x and evaluation.
struct Spends {
    xs: Vec<f64>,
    x_weight: Vec<f64>,
    rows: Vec<SpendRow>,
    total: f64,
}

impl Spends {
    /// Rows sorted by (x, m) and identical ones merged.
    fn new(rows: &[(f64, f64, f64)]) -> Self {
        let (xs, xi) = sort::distinct(rows.iter().map(|r| r.0));
        let mut sorted: Vec<SpendRow> = rows
            .iter()
            .enumerate()
            .map(|(i, &(x, m, weight))| SpendRow {
                xi: xi[i],
                x,
                m,
                ln_m: 0.0,
                weight,
            })
            .collect();
        // Stable: by m, then by x.
        sort::sort_by_key(&mut sorted, |r| sort::total_key(r.m));
        sort::sort_by_key(&mut sorted, |r| u64::from(r.xi));
        let mut rows: Vec<SpendRow> = Vec::with_capacity(sorted.len());
        for row in sorted {
            match rows.last_mut() {
                Some(last) if last.xi == row.xi && last.m.total_cmp(&row.m).is_eq() => {
                    last.weight += row.weight
                }
                _ => rows.push(SpendRow {
                    ln_m: row.m.ln(),
                    ..row
                }),
            }
        }
        let x_weight = weight_per_x(xs.len(), rows.iter().map(|r| (r.xi, r.weight)));
        Spends {
            total: x_weight.iter().sum(),
            xs,
            x_weight,
            rows,
        }
    }

    /// Mean negative log-likelihood (plus penalty) and its gradient at
    /// log-parameters ln(p, q, v).
    ///
    /// ln L = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(xm+v);
    /// ∂/∂p = x(ψ(px+q) − ψ(px) + ln m + ln x − ln(xm+v)),
    /// ∂/∂q = ψ(px+q) − ψ(q) + ln v − ln(xm+v), ∂/∂v = q/v − (px+q)/(xm+v).
    fn objective(&self, params: &[f64; 3], penalizer: f64, threads: usize) -> (f64, [f64; 3]) {
        let theta = params.map(f64::exp);
        let [p, q, v] = theta;
        let (lg_q, ps_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        let mut ll = 0.0;
        let mut d = [0.0; 3];
        for (&x, &w) in self.xs.iter().zip(&self.x_weight) {
            let ps_pxq = digamma(p * x + q);
            ll += w * (ln_gamma(p * x + q) - ln_gamma(p * x) - lg_q + q * ln_v + p * x * x.ln());
            d[0] += w * x * (ps_pxq - digamma(p * x) + x.ln());
            d[1] += w * (ps_pxq - ps_q + ln_v);
            d[2] += w * q / v;
        }
        let s = par_sum(self.rows.len(), threads, |range| {
            let mut s = [0.0; 4];
            for row in &self.rows[range] {
                let (x, w) = (row.x, row.weight);
                let ln_xmv = (x * row.m + v).ln();
                let pxq = p * x + q;
                s[0] += w * ((p * x - 1.0) * row.ln_m - pxq * ln_xmv);
                s[1] += w * x * (row.ln_m - ln_xmv);
                s[2] += w * ln_xmv;
                s[3] += w * pxq / (x * row.m + v);
            }
            s
        });
        ll += s[0];
        d[0] += s[1];
        d[1] -= s[2];
        d[2] -= s[3];
        finish(ll, d, theta, self.total, penalizer)
    }
}

/// Fits Gamma-Gamma to weighted rows (x, m, weight) with x > 0.
pub fn fit_gamma_gamma(rows: &[(f64, f64, f64)], penalizer: f64) -> Fitted {
    fit_gamma_gamma_threads(rows, penalizer, default_threads())
}

fn fit_gamma_gamma_threads(rows: &[(f64, f64, f64)], penalizer: f64, threads: usize) -> Fitted {
    let data = Spends::new(rows);
    let mut fitted: Fitted = minimize(&|p: &[f64; 3]| data.objective(p, penalizer, threads)).into();
    fitted.distinct_rows = data.rows.len();
    fitted
}

#[cfg(test)]
mod tests;
