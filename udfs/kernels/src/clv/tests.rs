//! Tests of the lifetime-value kernels: closed forms, gradients, fits.

use super::*;
use crate::optimize::Objective;

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
        m.expected_purchases(10.0, 3.0, 29.0, 30.0) > m.expected_purchases(10.0, 3.0, 5.0, 30.0)
    );
}

#[test]
fn digamma_closed_forms() {
    let euler = 0.577_215_664_901_532_9;
    // The shift from 1 to 10 cancels ~2.8 against ~2.3: a few ulps.
    assert!((digamma(1.0) + euler).abs() < 4e-15);
    assert!((digamma(0.5) + euler + 2.0 * 2f64.ln()).abs() < 4e-15);
    // python3 -c "import mpmath; mpmath.mp.dps=30; print(mpmath.digamma(x))"
    for (x, want) in [
        (100.0, 4.600_161_852_738_087),
        (0.01, -100.560_885_457_868_7),
        (3.7, 1.167_153_539_361_511),
        (12.5, 2.485_195_651_274_912),
        (1e6, 13.815_510_057_964_19),
        (-2.5, 1.103_156_640_645_243),
    ] {
        assert!(
            (digamma(x) - want).abs() < 4e-15 * want.abs().max(1.0),
            "ψ({x}) = {} vs {want}",
            digamma(x)
        );
    }
    // ψ(x + 1) = ψ(x) + 1/x across the switch to the series at 10.
    for x in [0.3, 2.0, 9.5, 9.999, 10.0, 47.25] {
        assert!(
            (digamma(x + 1.0) - digamma(x) - 1.0 / x).abs() < 1e-14,
            "{x}"
        );
    }
    // The derivative of ln Γ.
    for x in [0.3, 2.5, 17.0, 250.0] {
        let h = 1e-5 * x;
        let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
        assert!(
            (digamma(x) - numeric).abs() < 1e-7 * digamma(x).abs().max(1.0),
            "{x}"
        );
    }
    assert!(digamma(0.0).is_nan() && digamma(-3.0).is_nan());
}

/// Deterministic rows with no-repeat customers, large counts and long
/// observation, repeats and non-integer times.
fn purchases(n: usize) -> Vec<(f64, f64, f64, f64)> {
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows: Vec<(f64, f64, f64, f64)> = (0..n)
        .map(|_| {
            let t = (30.0 + 700.0 * next()).floor();
            let x = if next() < 0.5 {
                0.0
            } else {
                (12.0 * next() * next()).floor()
            };
            let t_x = if x > 0.0 {
                (t * next()).floor().max(1.0)
            } else {
                0.0
            };
            (x, t_x, t, 1.0 + (3.0 * next()).floor())
        })
        .collect();
    rows.extend([
        (0.0, 0.0, 5.0, 2.0),
        (4000.0, 99_000.5, 100_000.0, 1.0),
        (1.0, 0.25, 0.5, 1.0),
    ]);
    rows
}

fn spends() -> Vec<(f64, f64, f64)> {
    (1..400)
        .map(|i| {
            let x = f64::from(1 + i % 9);
            (x, 5.0 + f64::from((i * 37) % 101), f64::from(1 + i % 3))
        })
        .chain([(3000.0, 12.5, 1.0)])
        .collect()
}

/// Central differences of the objective against the analytic gradient.
fn check_gradient<const N: usize>(f: &Objective<N>, at: [f64; N]) {
    let (value, g) = f(&at);
    assert!(value.is_finite(), "{at:?}");
    for i in 0..N {
        let h = 1e-5;
        let (mut up, mut down) = (at, at);
        up[i] += h;
        down[i] -= h;
        let numeric = (f(&up).0 - f(&down).0) / (2.0 * h);
        assert!(
            (g[i] - numeric).abs() <= 1e-6 * g[i].abs().max(1.0),
            "∂{i} at {at:?}: analytic {} vs numeric {numeric}",
            g[i]
        );
    }
}

#[test]
fn bgnbd_gradient_matches_finite_differences() {
    let data = Purchases::new(&purchases(500));
    for penalizer in [0.0, 0.1] {
        for at in [[0.0; 4], [-1.4, 1.3, -0.2, 0.9], [1.0, -2.0, 2.0, -1.5]] {
            check_gradient(&|p: &[f64; 4]| data.objective(p, penalizer, 1), at);
        }
    }
}

#[test]
fn gamma_gamma_gradient_matches_finite_differences() {
    let data = Spends::new(&spends());
    for penalizer in [0.0, 0.05] {
        for at in [[0.0; 3], [1.8, 1.4, 3.0], [-0.5, 2.5, 1.0]] {
            check_gradient(&|p: &[f64; 3]| data.objective(p, penalizer, 1), at);
        }
    }
}

/// The factored sums equal the plain per-customer likelihoods.
#[test]
fn factored_likelihoods_equal_the_per_customer_ones() {
    let rows = purchases(300);
    let m = BgNbd {
        r: 0.3,
        alpha: 5.0,
        a: 0.7,
        b: 2.2,
    };
    let total: f64 = rows.iter().map(|r| r.3).sum();
    let plain: f64 = rows
        .iter()
        .map(|&(x, t_x, t, w)| w * m.log_likelihood(x, t_x, t))
        .sum();
    let p = [m.r, m.alpha, m.a, m.b].map(f64::ln);
    let (value, _) = Purchases::new(&rows).objective(&p, 0.0, 1);
    assert!(
        (value + plain / total).abs() < 1e-12 * value.abs(),
        "{value} vs {}",
        -plain / total
    );

    let rows = spends();
    let g = GammaGamma {
        p: 6.0,
        q: 4.0,
        v: 20.0,
    };
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let plain: f64 = rows
        .iter()
        .map(|&(x, m, w)| w * g.log_likelihood(x, m))
        .sum();
    let (value, _) = Spends::new(&rows).objective(&[g.p, g.q, g.v].map(f64::ln), 0.0, 1);
    assert!(
        (value + plain / total).abs() < 1e-12 * value.abs(),
        "{value} vs {}",
        -plain / total
    );
}

#[test]
fn fits_do_not_depend_on_threads_or_row_order() {
    let rows = purchases(3 * crate::optimize::CHUNK + 17);
    let one = fit_bgnbd_threads(&rows, 0.0, 1);
    assert!(one.converged, "{one:?}");
    assert!(one.gradient_norm <= 1e-6, "{one:?}");
    assert_eq!(fit_bgnbd_threads(&rows, 0.0, 3), one);
    let mut reversed = rows.clone();
    reversed.reverse();
    assert_eq!(fit_bgnbd_threads(&reversed, 0.0, 2), one);
    // Splitting a row's weight over duplicates changes nothing either.
    let mut split = rows.clone();
    let (x, t_x, t, w) = split[0];
    split[0].3 = w / 2.0;
    split.push((x, t_x, t, w / 2.0));
    let again = fit_bgnbd_threads(&split, 0.0, 2);
    for (a, b) in again.params.iter().zip(&one.params) {
        assert!((a - b).abs() < 1e-9 * b, "{again:?} vs {one:?}");
    }
    let spends = spends();
    let gg = fit_gamma_gamma_threads(&spends, 0.0, 1);
    assert!(gg.converged, "{gg:?}");
    assert_eq!(fit_gamma_gamma_threads(&spends, 0.0, 4), gg);
}

/// A large fit starts from a sample's optimum; it must end where a cold
/// start from lifetimes' origin ends (both to the gradient tolerance).
#[test]
fn warm_started_fit_ends_where_a_cold_one_does() {
    let rows = purchases(400_000);
    let data = Purchases::new(&rows);
    assert!(data.rows.len() >= WARM_START_FROM, "{}", data.rows.len());
    let warm = fit_bgnbd_threads(&rows, 0.0, 2);
    let cold: Fitted = minimize(&|p: &[f64; 4]| data.objective(p, 0.0, 2)).into();
    assert!(warm.converged && cold.converged, "{warm:?} {cold:?}");
    for (w, c) in warm.params.iter().zip(&cold.params) {
        assert!((w - c).abs() <= 1e-6 * c, "{warm:?} vs {cold:?}");
    }
    assert_ne!(warm, cold, "the same bits: the warm start did not run");
}

/// At the optimum the gradient vanishes: no nearby point is better.
#[test]
fn bgnbd_fit_is_a_minimum() {
    let rows = purchases(2000);
    let fit = fit_bgnbd_threads(&rows, 0.0, 1);
    assert!(fit.converged && fit.iterations < 200, "{fit:?}");
    let data = Purchases::new(&rows);
    let at: [f64; 4] = std::array::from_fn(|i| fit.params[i].ln());
    let (best, _) = data.objective(&at, 0.0, 1);
    assert!((best + fit.mean_log_likelihood).abs() < 1e-15 * best.abs().max(1.0));
    for i in 0..4 {
        for step in [-1e-3, 1e-3] {
            let mut p = at;
            p[i] += step;
            assert!(data.objective(&p, 0.0, 1).0 > best, "{i} {step}");
        }
    }
}

#[test]
fn likelihood_stays_finite_for_large_counts() {
    let m = BgNbd {
        r: 0.25,
        alpha: 4.0,
        a: 0.8,
        b: 2.5,
    };
    let ll = m.log_likelihood(50_000.0, 999_999.0, 1_000_000.0);
    assert!(ll.is_finite() && ll < 0.0, "{ll}");
    let data = Purchases::new(&[
        (50_000.0, 999_999.0, 1_000_000.0, 1.0),
        (0.0, 0.0, 1e6, 3.0),
    ]);
    let (value, g) = data.objective(&[0.3, 1.0, -0.2, 0.9], 0.0, 1);
    assert!(
        value.is_finite() && g.iter().all(|v| v.is_finite()),
        "{value} {g:?}"
    );
}
