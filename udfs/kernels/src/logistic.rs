//! Binary logistic regression: Newton's method on the weighted, L2-penalised
//! log-loss
//!
//! F(b, w) = Σᵢ sᵢ · [log(1 + e^{zᵢ}) − yᵢ zᵢ] + λ/2 · ‖w‖², zᵢ = b + xᵢ·w,
//!
//! with the intercept b unpenalised: scikit-learn's
//! `LogisticRegression(C = 1/λ)` minimizes C·Σ(…) + ½‖w‖², the same
//! minimizer. The problem is small in parameters (a few dozen) and large in
//! rows, so each iteration sums the gradient and the (d+1)² Hessian over all
//! rows in fixed chunks (added in chunk order: the same bits whatever the
//! thread count) and solves by Cholesky; quadratic convergence gives
//! scikit-learn's optimum to far below 1e-4 in about ten passes.

/// Rows per partial sum (fixed, so sums do not depend on the threads).
const CHUNK: usize = 4096;

/// What a fit is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticOptions {
    /// λ of the L2 penalty (≥ 0).
    pub l2: f64,
    /// Newton iterations at most.
    pub max_iterations: u32,
    /// Converged when ‖∇F‖∞ ≤ tolerance × Σ sᵢ (a per-row scale), or when
    /// the Newton decrement says the next step gains nothing representable.
    pub tolerance: f64,
    /// Threads for the sums.
    pub threads: usize,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        Self {
            l2: 0.0,
            max_iterations: 100,
            tolerance: 1e-10,
            threads: 1,
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFit {
    /// b.
    pub intercept: f64,
    /// w, one per column of x.
    pub coefficients: Vec<f64>,
    /// Newton steps taken.
    pub iterations: u32,
    /// Whether the gradient met the tolerance.
    pub converged: bool,
    /// F at the end.
    pub objective: f64,
    /// ‖∇F‖∞ / Σ sᵢ at the end.
    pub gradient_norm: f64,
}

/// log(1 + eᶻ) without overflow.
pub fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// [`softplus`] and [`sigmoid`] of z from one exponential (the same bits
/// as calling both).
fn softplus_sigmoid(z: f64) -> (f64, f64) {
    let e = (-z.abs()).exp();
    let softplus = z.max(0.0) + e.ln_1p();
    let sigmoid = if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    (softplus, sigmoid)
}

/// 1 / (1 + e^{−z}) without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Value, gradient and packed upper Hessian (p = d + 1 parameters, the
/// intercept first) of the unpenalised loss over rows `range`.
fn chunk_sums(
    x: &[f64],
    y: &[bool],
    s: &[f64],
    d: usize,
    theta: &[f64],
    range: std::ops::Range<usize>,
    hessian: bool,
) -> Vec<f64> {
    let p = d + 1;
    let tri = p * (p + 1) / 2;
    let mut out = vec![0.0; 1 + p + if hessian { tri } else { 0 }];
    let mut xt = vec![0.0; p];
    xt[0] = 1.0;
    for i in range {
        let row = &x[i * d..(i + 1) * d];
        xt[1..].copy_from_slice(row);
        let z: f64 = theta.iter().zip(&xt).map(|(t, v)| t * v).sum();
        let yi = if y[i] { 1.0 } else { 0.0 };
        let (softplus, mu) = softplus_sigmoid(z);
        out[0] += s[i] * (softplus - yi * z);
        let r = s[i] * (mu - yi);
        for (g, v) in out[1..=p].iter_mut().zip(&xt) {
            *g += r * v;
        }
        if hessian {
            let h = s[i] * mu * (1.0 - mu);
            // Row a of the packed upper triangle is one slice: no index
            // arithmetic per element, so the compiler vectorizes it.
            let mut rest = &mut out[1 + p..];
            for (a, xa) in xt.iter().enumerate() {
                let ha = h * xa;
                let (row, tail) = rest.split_at_mut(p - a);
                for (o, xb) in row.iter_mut().zip(&xt[a..]) {
                    *o += ha * xb;
                }
                rest = tail;
            }
        }
    }
    out
}

/// Σ of [`chunk_sums`] over all rows, chunks spread over threads and added
/// in order.
fn sums(
    x: &[f64],
    y: &[bool],
    s: &[f64],
    d: usize,
    theta: &[f64],
    hessian: bool,
    threads: usize,
) -> Vec<f64> {
    let n = y.len();
    let chunks = n.div_ceil(CHUNK);
    let chunk = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(n);
    let mut partial: Vec<Vec<f64>> = vec![Vec::new(); chunks];
    let threads = threads.clamp(1, chunks.max(1));
    let per = chunks.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (t, slots) in partial.chunks_mut(per).enumerate() {
            scope.spawn(move || {
                for (j, slot) in slots.iter_mut().enumerate() {
                    *slot = chunk_sums(x, y, s, d, theta, chunk(t * per + j), hessian);
                }
            });
        }
    });
    let p = d + 1;
    let len = 1 + p + if hessian { p * (p + 1) / 2 } else { 0 };
    partial.iter().fold(vec![0.0; len], |mut acc, part| {
        for (a, v) in acc.iter_mut().zip(part) {
            *a += v;
        }
        acc
    })
}

/// Solves A·x = b for a symmetric positive definite A (row-major p × p) by
/// Cholesky; `None` when A is not positive definite.
pub fn cholesky_solve(a: &[f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let mut sum = a[i * p + j];
            for k in 0..j {
                sum -= l[i * p + k] * l[j * p + k];
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i * p + i] = sum.sqrt();
            } else {
                l[i * p + j] = sum / l[j * p + j];
            }
        }
    }
    let mut z = vec![0.0; p];
    for i in 0..p {
        let mut sum = b[i];
        for k in 0..i {
            sum -= l[i * p + k] * z[k];
        }
        z[i] = sum / l[i * p + i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let mut sum = z[i];
        for k in i + 1..p {
            sum -= l[k * p + i] * x[k];
        }
        x[i] = sum / l[i * p + i];
    }
    Some(x)
}

/// Fits b and w to rows `x` (n × d, row-major), labels `y` and row weights
/// `s` (class weights; all 1 for none). Errors name what is wrong with the
/// input; a run that hits `max_iterations` (separable data without a
/// penalty) returns its last point with `converged` false.
pub fn fit(
    x: &[f64],
    y: &[bool],
    s: &[f64],
    d: usize,
    options: &LogisticOptions,
) -> Result<LogisticFit, String> {
    let n = y.len();
    if x.len() != n * d || s.len() != n {
        return Err(format!(
            "{n} labels, {} weights and {} values do not make {n} rows of {d}",
            s.len(),
            x.len()
        ));
    }
    if !(options.l2 >= 0.0 && options.l2.is_finite()) {
        return Err(format!(
            "l2 must be a finite number ≥ 0, got {}",
            options.l2
        ));
    }
    if s.iter().any(|w| !(*w > 0.0 && w.is_finite())) {
        return Err("row weights must be finite and > 0".into());
    }
    let total: f64 = s.iter().sum();
    let positive: f64 = s.iter().zip(y).filter(|(_, y)| **y).map(|(w, _)| w).sum();
    if positive <= 0.0 || positive >= total {
        return Err("both classes must occur in the training rows".into());
    }
    let p = d + 1;
    // Start at the weighted base rate: the intercept-only optimum.
    let mut theta = vec![0.0; p];
    theta[0] = (positive / (total - positive)).ln();
    let penalty = |t: &[f64]| 0.5 * options.l2 * t[1..].iter().map(|v| v * v).sum::<f64>();
    // F, ∇F and ‖∇F‖∞ / Σ s from the unpenalised sums `acc` at `theta`.
    let penalised = |acc: &[f64], theta: &[f64]| {
        let mut grad = acc[1..=p].to_vec();
        for j in 1..p {
            grad[j] += options.l2 * theta[j];
        }
        let norm = grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) / total;
        (acc[0] + penalty(theta), grad, norm)
    };
    let mut iterations = 0;
    let mut converged = false;
    let mut objective;
    let mut gradient_norm;
    // The sums at theta, Hessian included: a full Newton step's trial point
    // computes them for the next iteration too (the value is the same bits
    // either way), so the common iteration reads the rows once.
    let mut acc = sums(x, y, s, d, &theta, true, options.threads);
    loop {
        let grad;
        (objective, grad, gradient_norm) = penalised(&acc, &theta);
        if !gradient_norm.is_finite() {
            return Err("the fit diverged (a feature too large to standardize?)".into());
        }
        if gradient_norm <= options.tolerance {
            converged = true;
            break;
        }
        if iterations >= options.max_iterations {
            break;
        }
        let mut h = vec![0.0; p * p];
        let mut k = 1 + p;
        for a in 0..p {
            for b in a..p {
                h[a * p + b] = acc[k];
                h[b * p + a] = acc[k];
                k += 1;
            }
        }
        for j in 1..p {
            h[j * p + j] += options.l2;
        }
        // Without a penalty, collinear columns (one-hot categories beside
        // the intercept) make H singular: a growing ridge finds a step, and
        // any minimizer predicts the same.
        let scale = (0..p).map(|j| h[j * p + j]).fold(0.0f64, f64::max).max(1.0);
        let mut jitter = 0.0;
        let step = loop {
            let mut hj = h.clone();
            for j in 0..p {
                hj[j * p + j] += jitter;
            }
            if let Some(step) = cholesky_solve(&hj, &grad, p) {
                break step;
            }
            jitter = if jitter == 0.0 {
                scale * 1e-12
            } else {
                jitter * 100.0
            };
            if jitter > scale * 1e6 {
                return Err("the Hessian cannot be factored".into());
            }
        };
        let slope: f64 = -grad.iter().zip(&step).map(|(g, v)| g * v).sum::<f64>();
        // The Newton decrement: when the decrease the step promises is
        // below the objective's rounding, no line search can see it, and
        // the full step is the last useful one.
        if -slope / 2.0 <= 1e-14 * objective.abs().max(1.0) {
            for (a, v) in theta.iter_mut().zip(&step) {
                *a -= v;
            }
            iterations += 1;
            converged = true;
            let acc = sums(x, y, s, d, &theta, false, options.threads);
            (objective, _, gradient_norm) = penalised(&acc, &theta);
            break;
        }
        // Backtracking (Armijo) on the Newton direction.
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            let trial: Vec<f64> = theta.iter().zip(&step).map(|(a, v)| a - t * v).collect();
            let full = t == 1.0;
            let trial_acc = sums(x, y, s, d, &trial, full, options.threads);
            let value = trial_acc[0] + penalty(&trial);
            // At the optimum the decrease drowns in rounding: a full step
            // that does not raise the value beyond that noise is taken.
            let armijo = value <= objective + 1e-4 * t * slope;
            let noise = full && value <= objective * (1.0 + 1e-15) + 1e-300;
            if value.is_finite() && (armijo || noise) {
                theta = trial;
                acc = if full {
                    trial_acc
                } else {
                    sums(x, y, s, d, &theta, true, options.threads)
                };
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        iterations += 1;
        if !accepted {
            break;
        }
    }
    Ok(LogisticFit {
        intercept: theta[0],
        coefficients: theta[1..].to_vec(),
        iterations,
        converged,
        objective,
        gradient_norm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_feature_closed_form() {
        // x ∈ {0, 1}: without a penalty the fit reproduces each group's
        // log-odds exactly. x = 0: 1 of 4 positive; x = 1: 3 of 4.
        let x = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let y = [true, false, false, false, true, true, true, false];
        let s = [1.0; 8];
        let fit = fit(&x, &y, &s, 1, &LogisticOptions::default()).unwrap();
        assert!(fit.converged);
        let odds = |p: f64| (p / (1.0 - p)).ln();
        assert!((fit.intercept - odds(0.25)).abs() < 1e-9, "{fit:?}");
        assert!((fit.intercept + fit.coefficients[0] - odds(0.75)).abs() < 1e-9);
    }

    #[test]
    fn weights_are_repeated_rows_and_threads_do_not_matter() {
        let n = 10_000;
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let a = ((i * 7919) % 1000) as f64 / 500.0 - 1.0;
            let b = ((i * 104729) % 997) as f64 / 498.5 - 1.0;
            x.extend([a, b]);
            y.push(sigmoid(0.3 + 2.0 * a - b) > ((i * 31337) % 1009) as f64 / 1009.0);
        }
        let opts = LogisticOptions {
            l2: 2.0,
            ..Default::default()
        };
        let weights: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 2.0 } else { 1.0 }).collect();
        let a = fit(&x, &y, &weights, 2, &opts).unwrap();
        let b = fit(&x, &y, &weights, 2, &LogisticOptions { threads: 3, ..opts }).unwrap();
        assert_eq!(a, b);
        // Weight 2 is the row twice.
        let (mut x2, mut y2) = (x.clone(), y.clone());
        for i in (0..n).step_by(2) {
            x2.extend_from_slice(&x[i * 2..i * 2 + 2]);
            y2.push(y[i]);
        }
        let c = fit(&x2, &y2, &vec![1.0; y2.len()], 2, &opts).unwrap();
        assert!((a.intercept - c.intercept).abs() < 1e-9);
        for (u, v) in a.coefficients.iter().zip(&c.coefficients) {
            assert!((u - v).abs() < 1e-9);
        }
        // Stationarity: ∇ = 0 with the penalty on w only.
        assert!(a.converged && a.gradient_norm < 1e-10);
    }

    #[test]
    fn bad_inputs() {
        let o = LogisticOptions::default();
        assert!(
            fit(&[1.0, 2.0], &[true, true], &[1.0, 1.0], 1, &o)
                .unwrap_err()
                .contains("both classes")
        );
        assert!(fit(&[1.0], &[true, false], &[1.0, 1.0], 1, &o).is_err());
    }

    #[test]
    fn collinear_one_hot_without_penalty_still_fits() {
        // Two one-hot columns beside the intercept: singular Hessian.
        let x = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let y = [true, false, true, false, true];
        let f = fit(&x, &y, &[1.0; 5], 2, &LogisticOptions::default()).unwrap();
        let p = |row: usize| {
            sigmoid(
                f.intercept + f.coefficients[0] * x[row * 2] + f.coefficients[1] * x[row * 2 + 1],
            )
        };
        assert!((p(0) - 0.5).abs() < 1e-6, "{f:?}");
        assert!((p(2) - 2.0 / 3.0).abs() < 1e-6, "{f:?}");
    }
}
