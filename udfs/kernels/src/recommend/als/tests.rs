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
