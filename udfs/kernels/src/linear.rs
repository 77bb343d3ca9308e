//! Ridge regression: weighted least squares with an L2 penalty on the
//! slopes, the intercept unpenalised,
//!
//! F(b, w) = Σᵢ sᵢ (tᵢ − b − xᵢ·w)² + λ ‖w‖²,
//!
//! solved exactly from the normal equations by Cholesky. The X-learner's
//! second stage regresses imputed treatment effects with it (linear, like
//! the logistic first stage). One-hot columns beside the intercept make the
//! equations singular without a penalty; then a ridge of 1e-9 of the mean
//! diagonal picks the least-norm-like solution (predictions unchanged).

use crate::logistic::cholesky_solve;

/// A fitted line: t̂ = intercept + x·coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFit {
    /// b.
    pub intercept: f64,
    /// w, one per dimension.
    pub coefficients: Vec<f64>,
}

/// Fits rows `x` (n × d, row-major) to targets `t` with row weights `s`.
pub fn ridge(x: &[f64], t: &[f64], s: &[f64], d: usize, l2: f64) -> Result<LinearFit, String> {
    let n = t.len();
    if n == 0 || x.len() != n * d || s.len() != n {
        return Err(format!(
            "{n} targets, {} weights and {} values do not make rows of {d}",
            s.len(),
            x.len()
        ));
    }
    if !(l2 >= 0.0 && l2.is_finite()) {
        return Err(format!("l2 must be a finite number ≥ 0, got {l2}"));
    }
    if t.iter().chain(s).any(|v| !v.is_finite()) {
        return Err("targets and weights must be finite".into());
    }
    let p = d + 1;
    let mut a = vec![0.0; p * p];
    let mut b = vec![0.0; p];
    let mut xt = vec![0.0; p];
    xt[0] = 1.0;
    for i in 0..n {
        xt[1..].copy_from_slice(&x[i * d..(i + 1) * d]);
        for j in 0..p {
            let v = s[i] * xt[j];
            b[j] += v * t[i];
            for k in 0..=j {
                a[j * p + k] += v * xt[k];
            }
        }
    }
    for j in 0..p {
        for k in 0..j {
            a[k * p + j] = a[j * p + k];
        }
    }
    for j in 1..p {
        a[j * p + j] += l2;
    }
    let solution = cholesky_solve(&a, &b, p).or_else(|| {
        let jitter = 1e-9 * (0..p).map(|j| a[j * p + j]).sum::<f64>() / p as f64;
        let mut a = a.clone();
        for j in 0..p {
            a[j * p + j] += jitter.max(f64::MIN_POSITIVE);
        }
        cholesky_solve(&a, &b, p)
    });
    let theta = solution.ok_or("the rows do not determine a line (all weights zero?)")?;
    Ok(LinearFit {
        intercept: theta[0],
        coefficients: theta[1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exact line is recovered; a penalty shrinks the slope by the
    /// closed form Σxt / (Σx² + λ) for centred data.
    #[test]
    fn recovers_a_line_and_shrinks() {
        let x = [-1.0, 0.0, 1.0];
        let t: Vec<f64> = x.iter().map(|v| 2.0 + 3.0 * v).collect();
        let fit = ridge(&x, &t, &[1.0; 3], 1, 0.0).unwrap();
        assert!((fit.intercept - 2.0).abs() < 1e-12);
        assert!((fit.coefficients[0] - 3.0).abs() < 1e-12);
        let fit = ridge(&x, &t, &[1.0; 3], 1, 2.0).unwrap();
        // Σxt = 6, Σx² = 2: slope 6 / 4.
        assert!((fit.coefficients[0] - 1.5).abs() < 1e-12, "{fit:?}");
        assert!((fit.intercept - 2.0).abs() < 1e-12);
    }

    /// Two one-hot columns beside the intercept: singular, still fitted.
    #[test]
    fn one_hot_beside_the_intercept() {
        let x = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        let t = [1.0, 5.0, 1.0];
        let fit = ridge(&x, &t, &[1.0; 3], 2, 0.0).unwrap();
        let predict =
            |r: &[f64]| fit.intercept + r[0] * fit.coefficients[0] + r[1] * fit.coefficients[1];
        assert!((predict(&[1.0, 0.0]) - 1.0).abs() < 1e-6, "{fit:?}");
        assert!((predict(&[0.0, 1.0]) - 5.0).abs() < 1e-6, "{fit:?}");
    }
}
