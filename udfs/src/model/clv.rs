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
//! log-sum-exp, so large counts never overflow; identical rows are grouped
//! with weights by the caller, so millions of customers cost as much as
//! their distinct (x, t_x, T) triples.

use serde::{Deserialize, Serialize};

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
    /// Optimizer iterations.
    pub iterations: u32,
    /// Whether the simplex shrank below tolerance before the limit.
    pub converged: bool,
}

/// Nelder–Mead on `f` from `x0`; returns (argmin, min, iterations, converged).
fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], max_iter: u32) -> (Vec<f64>, f64, u32, bool) {
    let n = x0.len();
    let mut simplex: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..n {
        let mut p = x0.to_vec();
        p[i] += 0.5;
        simplex.push(p);
    }
    let mut values: Vec<f64> = simplex.iter().map(|p| f(p)).collect();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        iterations += 1;
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();
        let spread = (values[n] - values[0]).abs();
        let size = simplex[1..]
            .iter()
            .map(|p| {
                p.iter()
                    .zip(&simplex[0])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max);
        if spread <= 1e-12 * (1.0 + values[0].abs()) && size <= 1e-9 {
            converged = true;
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|j| simplex[..n].iter().map(|p| p[j]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[n])
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };
        let reflected = along(1.0);
        let fr = f(&reflected);
        if fr < values[0] {
            let expanded = along(2.0);
            let fe = f(&expanded);
            if fe < fr {
                simplex[n] = expanded;
                values[n] = fe;
            } else {
                simplex[n] = reflected;
                values[n] = fr;
            }
        } else if fr < values[n - 1] {
            simplex[n] = reflected;
            values[n] = fr;
        } else {
            let contracted = if fr < values[n] {
                along(0.5)
            } else {
                along(-0.5)
            };
            let fc = f(&contracted);
            if fc < values[n].min(fr) {
                simplex[n] = contracted;
                values[n] = fc;
            } else {
                let best = simplex[0].clone();
                for i in 1..=n {
                    simplex[i] = simplex[i]
                        .iter()
                        .zip(&best)
                        .map(|(p, b)| b + 0.5 * (p - b))
                        .collect();
                    values[i] = f(&simplex[i]);
                }
            }
        }
    }
    let best = (0..=n)
        .min_by(|&i, &j| values[i].total_cmp(&values[j]))
        .unwrap_or(0);
    (simplex[best].clone(), values[best], iterations, converged)
}

/// Minimizes from a few starts and polishes the best with restarts, which
/// is what makes Nelder–Mead reliable on these smooth, ridge-shaped
/// likelihoods.
fn minimize(f: &dyn Fn(&[f64]) -> f64, n: usize) -> (Vec<f64>, f64, u32, bool) {
    let mut best: Option<(Vec<f64>, f64, u32, bool)> = None;
    for start in [0.0, -1.0, 1.0] {
        let (mut x, mut v, mut it, mut ok) = nelder_mead(f, &vec![start; n], 20_000);
        // Restart from the optimum until it stops moving.
        for _ in 0..5 {
            let (x2, v2, it2, ok2) = nelder_mead(f, &x, 20_000);
            it += it2;
            let moved = (v - v2).abs() > 1e-13 * (1.0 + v.abs());
            x = x2;
            v = v2;
            ok = ok2;
            if !moved {
                break;
            }
        }
        if best.as_ref().is_none_or(|b| v < b.1) {
            best = Some((x, v, it, ok));
        }
    }
    best.expect("at least one start")
}

/// Fits BG/NBD to weighted rows (x, t_x, T, weight); `penalizer` adds
/// penalizer × Σ params² to the mean negative log-likelihood (lifetimes'
/// convention).
pub fn fit_bgnbd(rows: &[(f64, f64, f64, f64)], penalizer: f64) -> Fitted {
    let total: f64 = rows.iter().map(|r| r.3).sum();
    let objective = |p: &[f64]| -> f64 {
        let m = BgNbd {
            r: p[0].exp(),
            alpha: p[1].exp(),
            a: p[2].exp(),
            b: p[3].exp(),
        };
        let ll: f64 = rows
            .iter()
            .map(|&(x, t_x, t, w)| w * m.log_likelihood(x, t_x, t))
            .sum();
        let penalty: f64 = p.iter().map(|v| v.exp().powi(2)).sum::<f64>() * penalizer;
        let value = -ll / total + penalty;
        if value.is_finite() { value } else { f64::MAX }
    };
    let (x, v, iterations, converged) = minimize(&objective, 4);
    Fitted {
        params: x.iter().map(|v| v.exp()).collect(),
        mean_log_likelihood: -v,
        iterations,
        converged,
    }
}

/// Fits Gamma-Gamma to weighted rows (x, m, weight) with x > 0.
pub fn fit_gamma_gamma(rows: &[(f64, f64, f64)], penalizer: f64) -> Fitted {
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let objective = |p: &[f64]| -> f64 {
        let m = GammaGamma {
            p: p[0].exp(),
            q: p[1].exp(),
            v: p[2].exp(),
        };
        let ll: f64 = rows
            .iter()
            .map(|&(x, mv, w)| w * m.log_likelihood(x, mv))
            .sum();
        let penalty: f64 = p.iter().map(|v| v.exp().powi(2)).sum::<f64>() * penalizer;
        let value = -ll / total + penalty;
        if value.is_finite() { value } else { f64::MAX }
    };
    let (x, v, iterations, converged) = minimize(&objective, 3);
    Fitted {
        params: x.iter().map(|v| v.exp()).collect(),
        mean_log_likelihood: -v,
        iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_closed_forms() {
        // Γ(n) = (n-1)!, Γ(1/2) = √π.
        assert!((ln_gamma(1.0)).abs() < 1e-13);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // python3 -c "import math; print(math.lgamma(171.5), math.lgamma(1234.5), math.lgamma(0.1))"
        for (x, want) in [
            (171.5, 709.1431630309282),
            (1234.5, 7550.550901077896),
            (0.1, 2.2527126517342055),
        ] {
            assert!(
                (ln_gamma(x) - want).abs() < 1e-12 * want.abs().max(1.0),
                "{x}"
            );
        }
    }

    #[test]
    fn hyp2f1_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z;  2F1(a, b; b; z) = (1 - z)^-a.
        let z = 0.7;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0f64 - z).ln() / z)).abs() < 1e-12);
        assert!((hyp2f1(2.5, 3.0, 3.0, 0.3) - 0.7f64.powf(-2.5)).abs() < 1e-12);
    }

    #[test]
    fn p_alive_limits() {
        let m = BgNbd {
            r: 0.24,
            alpha: 4.4,
            a: 0.79,
            b: 2.4,
        };
        assert_eq!(m.p_alive(0.0, 0.0, 30.0), 1.0);
        // Bought recently relative to T: more likely alive than a long silence.
        assert!(m.p_alive(3.0, 29.0, 30.0) > m.p_alive(3.0, 5.0, 30.0));
        assert!(
            m.expected_purchases(10.0, 3.0, 29.0, 30.0)
                > m.expected_purchases(10.0, 3.0, 5.0, 30.0)
        );
    }
}
