//! Smooth minimization for the maximum-likelihood fits (BG/NBD,
//! Gamma-Gamma): BFGS with analytic gradients and a backtracking line
//! search, a derivative-free fallback, and a parallel sum whose result does
//! not depend on the thread count.

use std::ops::Range;

/// Rows per partial sum. Fixed, so the partial sums and the order they are
/// added in are the same whatever the thread count: a fit gives the same
/// bits on a laptop and on a 64-core server.
pub const CHUNK: usize = 4096;

/// Σ over `0..n` of `f(chunk)`, `K` sums at once, the chunks spread over
/// `threads` scoped threads and added in chunk order.
pub fn par_sum<const K: usize>(
    n: usize,
    threads: usize,
    f: impl Fn(Range<usize>) -> [f64; K] + Sync,
) -> [f64; K] {
    let chunks = n.div_ceil(CHUNK);
    let chunk = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(n);
    let mut partial = vec![[0.0; K]; chunks];
    let threads = threads.clamp(1, chunks.max(1));
    if threads == 1 {
        for (c, slot) in partial.iter_mut().enumerate() {
            *slot = f(chunk(c));
        }
    } else {
        let per = chunks.div_ceil(threads);
        let f = &f;
        std::thread::scope(|s| {
            for (t, slots) in partial.chunks_mut(per).enumerate() {
                s.spawn(move || {
                    for (j, slot) in slots.iter_mut().enumerate() {
                        *slot = f(chunk(t * per + j));
                    }
                });
            }
        });
    }
    partial.iter().fold([0.0; K], |mut acc, p| {
        for (a, v) in acc.iter_mut().zip(p) {
            *a += v;
        }
        acc
    })
}

/// The threads a fit uses: all the machine offers.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// An objective: its value and gradient at a point.
pub type Objective<'a, const N: usize> = dyn Fn(&[f64; N]) -> (f64, [f64; N]) + 'a;

/// Where a minimization ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minimum<const N: usize> {
    /// The argument.
    pub x: [f64; N],
    /// The objective there.
    pub value: f64,
    /// Largest absolute gradient component there.
    pub gradient_norm: f64,
    /// Iterations (BFGS steps or simplex moves).
    pub iterations: u32,
    /// Objective evaluations.
    pub evaluations: u32,
    /// Whether the gradient reached the tolerance.
    pub converged: bool,
}

/// Gradient tolerance (∞-norm). The objectives are means per customer,
/// so this does not scale with the data.
pub const GRADIENT_TOLERANCE: f64 = 1e-8;
/// When no step improves the objective any more (its rounding noise is
/// reached), a gradient this small still counts as converged.
const STALLED_TOLERANCE: f64 = 1e-6;
/// Largest move of one coordinate per step (log-parameters: ×20).
const MAX_STEP: f64 = 3.0;

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Largest absolute component; NaN if any is NaN (`f64::max` would hide it).
fn inf_norm<const N: usize>(a: &[f64; N]) -> f64 {
    if a.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn finite<const N: usize>(value: f64, g: &[f64; N]) -> bool {
    value.is_finite() && g.iter().all(|v| v.is_finite())
}

fn identity<const N: usize>(scale: f64) -> [[f64; N]; N] {
    let mut h = [[0.0; N]; N];
    for (i, row) in h.iter_mut().enumerate() {
        row[i] = scale;
    }
    h
}

/// BFGS on `eval` (value and gradient) from `x0`.
///
/// The inverse-Hessian estimate starts as the identity and is scaled by
/// the first curvature pair; a step that is not downhill resets it. The
/// line search backtracks (quadratic interpolation, at least ×0.1 per try)
/// until Armijo's decrease holds; non-finite values count as "too far".
/// Close to the optimum, where a decrease drowns in rounding, a full step
/// that halves the gradient without raising the value beyond that noise is
/// taken. If even steepest descent finds no decrease the run stops,
/// converged only if the gradient is already tiny.
pub fn bfgs<const N: usize>(eval: &Objective<N>, x0: [f64; N], max_iterations: u32) -> Minimum<N> {
    bfgs_with(eval, x0, None, max_iterations).0
}

/// An inverse-Hessian estimate, as BFGS keeps it.
pub type InverseHessian<const N: usize> = [[f64; N]; N];

/// [`bfgs`] starting from the inverse-Hessian estimate `h0` when given (a
/// warm start), returning the estimate it ends with beside the minimum.
pub fn bfgs_with<const N: usize>(
    eval: &Objective<N>,
    x0: [f64; N],
    h0: Option<InverseHessian<N>>,
    max_iterations: u32,
) -> (Minimum<N>, InverseHessian<N>) {
    let mut x = x0;
    let (mut value, mut g) = eval(&x);
    let mut evaluations = 1;
    let mut iterations = 0;
    let mut fresh = h0.is_none();
    let mut h = h0.unwrap_or_else(|| identity::<N>(1.0));
    let done = |x, value, g: &[f64; N], iterations, evaluations, converged| Minimum {
        x,
        value,
        gradient_norm: inf_norm(g),
        iterations,
        evaluations,
        converged,
    };
    if !finite(value, &g) {
        return (done(x, f64::INFINITY, &g, 0, evaluations, false), h);
    }
    loop {
        let norm = inf_norm(&g);
        if norm <= GRADIENT_TOLERANCE {
            return (done(x, value, &g, iterations, evaluations, true), h);
        }
        if iterations >= max_iterations {
            return (done(x, value, &g, iterations, evaluations, false), h);
        }
        iterations += 1;
        let mut d = [0.0; N];
        for (di, row) in d.iter_mut().zip(&h) {
            *di = -dot(row, &g);
        }
        // Written so that a NaN direction also counts as not downhill.
        let downhill = dot(&d, &g) < 0.0;
        if !downhill {
            h = identity(1.0);
            fresh = true;
            d = g.map(|v| -v);
        }
        let longest = inf_norm(&d);
        if longest > MAX_STEP {
            d = d.map(|v| v * MAX_STEP / longest);
        }
        let slope = dot(&g, &d);
        let noise = 1e-12 * value.abs().max(1.0);
        let mut step = 1.0;
        let mut accepted = None;
        for attempt in 0..60 {
            let mut xn = x;
            for (xi, di) in xn.iter_mut().zip(&d) {
                *xi += step * di;
            }
            let (vn, gn) = eval(&xn);
            evaluations += 1;
            if finite(vn, &gn) {
                let armijo = vn <= value + 1e-4 * step * slope;
                let settling = attempt == 0 && vn <= value + noise && inf_norm(&gn) < 0.5 * norm;
                if armijo || settling {
                    accepted = Some((xn, vn, gn));
                    break;
                }
                // Minimum of the quadratic through value, slope and vn.
                let q = -slope * step * step / (2.0 * (vn - value - slope * step));
                step = if q.is_finite() {
                    q.clamp(0.1 * step, 0.5 * step)
                } else {
                    0.5 * step
                };
            } else {
                step *= 0.1;
            }
            if step * longest.min(MAX_STEP) < 1e-14 {
                break;
            }
        }
        let Some((xn, vn, gn)) = accepted else {
            if !fresh {
                h = identity(1.0);
                fresh = true;
                continue;
            }
            return (
                done(
                    x,
                    value,
                    &g,
                    iterations,
                    evaluations,
                    norm <= STALLED_TOLERANCE,
                ),
                h,
            );
        };
        let s: [f64; N] = std::array::from_fn(|i| xn[i] - x[i]);
        let y: [f64; N] = std::array::from_fn(|i| gn[i] - g[i]);
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if fresh {
                h = identity(sy / dot(&y, &y));
                fresh = false;
            }
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let hy: [f64; N] = std::array::from_fn(|i| dot(&h[i], &y));
            let yhy = dot(&y, &hy);
            for i in 0..N {
                for j in 0..N {
                    h[i][j] += -rho * (s[i] * hy[j] + hy[i] * s[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        x = xn;
        value = vn;
        g = gn;
    }
}

/// Nelder–Mead on the value alone: the fallback when BFGS cannot get going
/// (a gradient that is not finite somewhere on the way).
pub fn nelder_mead<const N: usize>(
    f: &dyn Fn(&[f64; N]) -> f64,
    x0: [f64; N],
    max_iterations: u32,
) -> ([f64; N], f64, u32) {
    let mut simplex: Vec<[f64; N]> = vec![x0];
    for i in 0..N {
        let mut p = x0;
        p[i] += 0.5;
        simplex.push(p);
    }
    let mut values: Vec<f64> = simplex.iter().map(f).collect();
    let mut iterations = 0;
    while iterations < max_iterations {
        iterations += 1;
        let mut order: Vec<usize> = (0..=N).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        simplex = order.iter().map(|&i| simplex[i]).collect();
        values = order.iter().map(|&i| values[i]).collect();
        let size = simplex[1..]
            .iter()
            .flat_map(|p| p.iter().zip(&simplex[0]).map(|(a, b)| (a - b).abs()))
            .fold(0.0, f64::max);
        if (values[N] - values[0]).abs() <= 1e-12 * (1.0 + values[0].abs()) && size <= 1e-9 {
            break;
        }
        let centroid: [f64; N] =
            std::array::from_fn(|j| simplex[..N].iter().map(|p| p[j]).sum::<f64>() / N as f64);
        let worst = simplex[N];
        let along = |t: f64| -> [f64; N] {
            std::array::from_fn(|j| centroid[j] + t * (centroid[j] - worst[j]))
        };
        let reflected = along(1.0);
        let fr = f(&reflected);
        if fr < values[0] {
            let expanded = along(2.0);
            let fe = f(&expanded);
            (simplex[N], values[N]) = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < values[N - 1] {
            (simplex[N], values[N]) = (reflected, fr);
        } else {
            let contracted = along(if fr < values[N] { 0.5 } else { -0.5 });
            let fc = f(&contracted);
            if fc < values[N].min(fr) {
                (simplex[N], values[N]) = (contracted, fc);
            } else {
                let best = simplex[0];
                for i in 1..=N {
                    simplex[i] = std::array::from_fn(|j| best[j] + 0.5 * (simplex[i][j] - best[j]));
                    values[i] = f(&simplex[i]);
                }
            }
        }
    }
    let best = (0..=N)
        .min_by(|&i, &j| values[i].total_cmp(&values[j]))
        .unwrap_or(0);
    (simplex[best], values[best], iterations)
}

/// Minimizes `full` starting where `coarse` (the same objective on a
/// sample of its rows) has its minimum, with BFGS's curvature estimate from
/// there: near the optimum with a good inverse Hessian, the full objective
/// needs a few evaluations instead of the 20–30 of a cold start. When the
/// coarse run does not converge, or the warm one fails, [`minimize`] on
/// `full` decides. Evaluations of both are counted.
pub fn minimize_warm<const N: usize>(coarse: &Objective<N>, full: &Objective<N>) -> Minimum<N> {
    const MAX_ITERATIONS: u32 = 500;
    let (start, h) = bfgs_with(coarse, [0.0; N], None, MAX_ITERATIONS);
    if start.converged {
        let (mut warm, _) = bfgs_with(full, start.x, Some(h), MAX_ITERATIONS);
        if warm.converged {
            warm.iterations += start.iterations;
            warm.evaluations += start.evaluations;
            return warm;
        }
    }
    let mut cold = minimize(full);
    cold.evaluations += start.evaluations;
    cold.iterations += start.iterations;
    cold
}

/// Minimizes a smooth objective in log-parameters: BFGS from the origin
/// (every parameter 1, lifetimes' start), then from ±1 if that does not
/// converge, keeping the best; if none converges, Nelder–Mead from the best
/// point and BFGS again from where it ends.
pub fn minimize<const N: usize>(eval: &Objective<N>) -> Minimum<N> {
    const MAX_ITERATIONS: u32 = 500;
    let mut best: Option<Minimum<N>> = None;
    let (mut iterations, mut evaluations) = (0, 0);
    for start in [0.0, -1.0, 1.0] {
        let run = bfgs(eval, [start; N], MAX_ITERATIONS);
        iterations += run.iterations;
        evaluations += run.evaluations;
        let better = best.as_ref().is_none_or(|b| {
            (run.converged && !b.converged) || (run.converged == b.converged && run.value < b.value)
        });
        if better {
            best = Some(run);
        }
        if run.converged {
            break;
        }
    }
    let mut best = best.expect("at least one start");
    if !best.converged {
        let count = std::cell::Cell::new(0);
        let value = |x: &[f64; N]| {
            count.set(count.get() + 1);
            let v = eval(x).0;
            if v.is_finite() { v } else { f64::MAX }
        };
        let from = if best.value.is_finite() {
            best.x
        } else {
            [0.0; N]
        };
        let (x, v, moves) = nelder_mead(&value, from, 20_000);
        let polish = bfgs(eval, x, MAX_ITERATIONS);
        iterations += moves + polish.iterations;
        evaluations += count.get() + polish.evaluations;
        best = if polish.converged || polish.value <= v {
            polish
        } else {
            Minimum {
                x,
                value: v,
                gradient_norm: polish.gradient_norm,
                iterations: 0,
                evaluations: 0,
                converged: false,
            }
        };
    }
    best.iterations = iterations;
    best.evaluations = evaluations;
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_sum_does_not_depend_on_threads() {
        let n = 10 * CHUNK + 123;
        let f = |r: Range<usize>| {
            let mut s = [0.0, 0.0];
            for i in r {
                let v = 1.0 / (i as f64 + 1.0);
                s[0] += v;
                s[1] += v * v;
            }
            s
        };
        let one = par_sum(n, 1, f);
        for threads in [2, 3, 7, 64] {
            assert_eq!(par_sum(n, threads, f), one, "{threads} threads");
        }
        // Σ 1/i² → π²/6.
        assert!((one[1] - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-4);
        assert_eq!(par_sum(0, 4, f), [0.0, 0.0]);
    }

    /// Rosenbrock: a curved valley with its minimum, 0, at (1, 1).
    fn rosenbrock(p: &[f64; 2]) -> (f64, [f64; 2]) {
        let (x, y) = (p[0], p[1]);
        (
            (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2),
            [
                -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
                200.0 * (y - x * x),
            ],
        )
    }

    #[test]
    fn bfgs_finds_closed_form_minima() {
        let m = bfgs(&rosenbrock, [-1.2, 1.0], 500);
        assert!(m.converged, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6,
            "{m:?}"
        );
        assert!(m.iterations < 100, "{m:?}");
        // A quadratic with minimum at c: exact after a few steps.
        let c = [3.0, -2.0, 0.5];
        let scale = [1.0, 10.0, 100.0];
        let quad = |p: &[f64; 3]| {
            let v = (0..3).map(|i| scale[i] * (p[i] - c[i]).powi(2)).sum();
            (v, std::array::from_fn(|i| 2.0 * scale[i] * (p[i] - c[i])))
        };
        let m = bfgs(&quad, [0.0; 3], 100);
        assert!(m.converged && m.iterations <= 20, "{m:?}");
        for (x, c) in m.x.iter().zip(c) {
            assert!((x - c).abs() < 1e-8, "{m:?}");
        }
    }

    #[test]
    fn bfgs_backs_off_from_non_finite_values() {
        // ln-barrier: infinite for x ≤ 0, minimum at x = 1 (x − ln x).
        let f = |p: &[f64; 1]| {
            if p[0] <= 0.0 {
                (f64::NAN, [f64::NAN])
            } else {
                (p[0] - p[0].ln(), [1.0 - 1.0 / p[0]])
            }
        };
        let m = bfgs(&f, [4.0], 100);
        assert!(m.converged && (m.x[0] - 1.0).abs() < 1e-8, "{m:?}");
        // A start where nothing is finite: not converged, no panic.
        let m = bfgs(&f, [-1.0], 100);
        assert!(!m.converged);
    }

    #[test]
    fn minimize_falls_back_when_gradients_fail() {
        // The gradient is NaN everywhere: BFGS cannot move, Nelder–Mead
        // finds the minimum of (x − 2)² + (y + 1)².
        let f = |p: &[f64; 2]| ((p[0] - 2.0).powi(2) + (p[1] + 1.0).powi(2), [f64::NAN; 2]);
        let m = minimize(&f);
        assert!(!m.converged);
        assert!(
            (m.x[0] - 2.0).abs() < 1e-4 && (m.x[1] + 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }

    #[test]
    fn nelder_mead_closed_form() {
        let f = |p: &[f64; 2]| (p[0] - 2.0).powi(2) + 3.0 * (p[1] + 1.0).powi(2);
        let (x, v, _) = nelder_mead(&f, [0.0, 0.0], 10_000);
        assert!((x[0] - 2.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6 && v < 1e-10);
    }
}
