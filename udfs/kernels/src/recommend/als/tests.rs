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
    let rows = Rows::new(1, 1, std::iter::once((0, 0, 3.0)));
    let gram = gram_of(&[2.0], 1, 1);
    let step = |plan, steps, x: &mut [f64]| {
        let by_other = Rows::new(1, 1, std::iter::once((0, 0, 3.0)));
        half_step(
            plan,
            Some(&rows),
            Some(&by_other),
            &[2.0],
            &gram,
            1,
            1.0,
            1,
            steps,
            x,
        )
        .unwrap();
    };
    let mut x = [0.0];
    step(Plan::Exact, 0, &mut x);
    assert!((x[0] - 8.0 / 17.0).abs() < 1e-15, "{x:?}");
    // One conjugate-gradient step solves a 1 × 1 system (to f32 products).
    for plan in [Plan::Rows, Plan::Columns] {
        let mut x_cg = [0.3];
        step(plan, 1, &mut x_cg);
        assert!((x_cg[0] - 8.0 / 17.0).abs() < 1e-7, "{plan:?} {x_cg:?}");
    }
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
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
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

/// Uniform in [0, 1) from a hash of (seed, k).
fn unit(seed: u64, k: u64) -> f64 {
    (mix(mix(seed) ^ k) >> 11) as f64 / (1u64 << 53) as f64
}

/// 30 customers × 20 items, about 40% bought with weights 1–4, and
/// item factors of f = 20 (padded to 32 in f32) around ±0.3.
fn random_problem() -> (Vec<(u32, u32, f64)>, Vec<f64>) {
    let mut rows = Vec::new();
    for u in 0..30u32 {
        for i in 0..20u32 {
            let k = u64::from(u * 20 + i);
            if unit(1, k) < 0.4 {
                rows.push((u, i, 1.0 + (unit(2, k) * 4.0).floor()));
            }
        }
    }
    let items = (0..20 * 20).map(|k| unit(3, k) * 0.6 - 0.3).collect();
    (rows, items)
}

/// One customer half-step of `random_problem` by `plan`, from starting
/// factors 0.1.
fn customer_step(plan: Plan, steps: usize, threads: usize) -> Vec<f64> {
    let (rows, items) = random_problem();
    let (f, alpha, lambda) = (20, 2.0, 0.1);
    let by_user = Rows::new(30, 20, rows.iter().map(|&(u, i, r)| (u, i, alpha * r)));
    let by_item = Rows::new(20, 30, rows.iter().map(|&(u, i, r)| (i, u, alpha * r)));
    let gram = gram_of(&items, f, 1);
    let mut x = vec![0.1; 30 * f];
    half_step(
        plan,
        Some(&by_user),
        Some(&by_item),
        &items,
        &gram,
        f,
        lambda,
        threads,
        steps,
        &mut x,
    )
    .unwrap();
    x
}

/// The f32 conjugate gradients, run long, reach the f64 Cholesky
/// solution, by rows and by columns.
#[test]
fn the_f32_half_step_reaches_the_exact_solve() {
    let exact = customer_step(Plan::Exact, 0, 1);
    let scale = exact.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.1, "{scale}");
    for plan in [Plan::Rows, Plan::Columns] {
        let cg = customer_step(plan, 40, 1);
        for (a, b) in exact.iter().zip(&cg) {
            assert!((a - b).abs() < 1e-4 * scale, "{plan:?}: {a} vs {b}");
        }
    }
}

/// Rows and columns run the same operations in the same order, on any
/// number of threads.
#[test]
fn rows_and_columns_give_the_same_bits() {
    let rows = customer_step(Plan::Rows, 3, 1);
    for threads in [1, 3] {
        assert_eq!(rows, customer_step(Plan::Rows, 3, threads));
        assert_eq!(rows, customer_step(Plan::Columns, 3, threads));
    }
    // Three steps move every customer who bought something.
    assert!(rows.iter().all(|&v| v != 0.1));
}

/// The vector build against the portable one: the same sums but for the
/// FMA's rounding.
#[cfg(target_arch = "x86_64")]
#[test]
fn portable_and_avx2_agree() {
    let Some(avx2) = lanes::avx2() else {
        return;
    };
    use lanes::{Lanes, Portable};
    let a: Vec<f32> = (0..48).map(|k| unit(4, k) as f32 - 0.5).collect();
    let b: Vec<f32> = (0..48).map(|k| unit(5, k) as f32 - 0.5).collect();
    let exact: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    for d in [Portable.dot(&a, &b), avx2.dot(&a, &b)] {
        assert!((f64::from(d) - exact).abs() < 1e-5, "{d} vs {exact}");
    }
    let c = [0.5f32, -2.0, 1.25];
    let row = |j: usize| &a[j * 16..][..16];
    let (mut p, mut v) = (vec![0.0; 16], vec![0.0; 16]);
    Portable.combine(&c, row, &mut p);
    avx2.combine(&c, row, &mut v);
    for k in 0..16 {
        let exact: f64 = (0..3)
            .map(|j| f64::from(c[j]) * f64::from(a[j * 16 + k]))
            .sum();
        assert!((f64::from(p[k]) - exact).abs() < 1e-6 && (f64::from(v[k]) - exact).abs() < 1e-6);
    }
    // A whole half-step.
    let (rows, items) = random_problem();
    let by_user = Rows::new(30, 20, rows.iter().map(|&(u, i, r)| (u, i, 2.0 * r)));
    let (other, gram) = f32_problem(&items, &gram_of(&items, 20, 1), 20, 0.1);
    let problem = cg::Problem {
        other: &other,
        gram: &gram,
        f: 20,
        stride: 32,
        steps: 3,
    };
    let (mut x, mut y) = (vec![0.1; 30 * 20], vec![0.1; 30 * 20]);
    cg::rows_with(Portable, &problem, &by_user, 0..30, &mut x);
    cg::rows_with(avx2, &problem, &by_user, 0..30, &mut y);
    let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (a, b) in x.iter().zip(&y) {
        assert!((a - b).abs() < 1e-4 * scale, "{a} vs {b}");
    }
}

/// The loss a fit reports (Gram matrices shared with the solves, pairs by
/// customer) is the loss of its factors by the public formula.
#[test]
fn the_reported_loss_is_the_loss_of_the_factors() {
    let (rows, _) = random_problem();
    let options = AlsOptions {
        factors: 20,
        regularization: 0.1,
        alpha: 2.0,
        iterations: 3,
        threads: 2,
        ..AlsOptions::default()
    };
    let fit = fit(30, 20, &rows, &options).unwrap();
    let l = loss(&rows, &fit.users, &fit.items, 20, 2.0, 0.1);
    let reported = *fit.loss.last().unwrap();
    assert!((l - reported).abs() < 1e-12 * l, "{l} vs {reported}");
    for w in fit.loss.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-9), "{:?}", fit.loss);
    }
}

/// The counting sorts give the entries of a comparison sort.
#[test]
fn entries_are_sorted_by_row_then_column() {
    let (mut rows, _) = random_problem();
    rows.reverse();
    let by_item = Rows::new(20, 30, rows.iter().map(|&(u, i, r)| (i, u, r)));
    let mut expected: Vec<(u32, u32, f64)> = rows.iter().map(|&(u, i, r)| (i, u, r)).collect();
    expected.sort_by_key(|t| (t.0, t.1));
    let got: Vec<(u32, u32, f64)> = (0..20)
        .flat_map(|i| {
            let (cols, extra) = by_item.row(i);
            cols.iter().zip(extra).map(move |(&u, &r)| (i as u32, u, r))
        })
        .collect();
    assert_eq!(got, expected);
}
