use super::*;

fn one_tree(l2: f64) -> GbdtOptions {
    GbdtOptions {
        max_iterations: 1,
        learning_rate: 1.0,
        num_leaves: 2,
        min_rows_in_leaf: 1,
        l2,
        ..GbdtOptions::default()
    }
}

/// A step at 50: rows 0..100, positive from 50 on.
fn step() -> (Vec<f64>, Vec<bool>) {
    let x: Vec<f64> = (0..100).map(f64::from).collect();
    let y = x.iter().map(|&v| v >= 50.0).collect();
    (x, y)
}

#[test]
fn one_split_on_a_step_function() {
    let (x, y) = step();
    let s = vec![1.0; 100];
    let fit = fit(&x, &y, &s, 1, None, &one_tree(1.0)).unwrap();
    // Balanced: base log-odds 0, p = ½, g = ∓½, h = ¼ a row.
    assert_eq!(fit.ensemble.base, 0.0);
    let tree = &fit.ensemble.trees[0];
    let split = tree.nodes[0].split.as_ref().unwrap();
    assert_eq!((split.feature, split.threshold), (0, 49.5));
    // Leaves: −G/(H+λ) with G = ±25, H = 12.5, λ = 1.
    let (l, r) = (&tree.nodes[split.left], &tree.nodes[split.right]);
    assert!((l.value - (-25.0 / 13.5)).abs() < 1e-12, "{}", l.value);
    assert!((r.value - 25.0 / 13.5).abs() < 1e-12);
    // Gain: G_L²/(H_L+λ) + G_R²/(H_R+λ) − 0.
    assert!((split.gain - 2.0 * 625.0 / 13.5).abs() < 1e-9);
    assert_eq!((l.rows, r.rows), (50.0, 50.0));
}

#[test]
fn leaf_values_are_minus_g_over_h_plus_lambda_with_weights() {
    // Weighted 3:1 positives: base = ln(Σs⁺/Σs⁻); leaves from the weighted
    // gradients at that base.
    let (x, y) = step();
    let s: Vec<f64> = y.iter().map(|&l| if l { 3.0 } else { 1.0 }).collect();
    let lambda = 2.5;
    let fit = fit(&x, &y, &s, 1, None, &one_tree(lambda)).unwrap();
    let base = (150.0f64 / 50.0).ln();
    assert!((fit.ensemble.base - base).abs() < 1e-15);
    let p = 1.0 / (1.0 + (-base).exp());
    let (g_neg, h_neg) = (50.0 * p, 50.0 * p * (1.0 - p));
    let (g_pos, h_pos) = (3.0 * 50.0 * (p - 1.0), 3.0 * 50.0 * p * (1.0 - p));
    let tree = &fit.ensemble.trees[0];
    let split = tree.nodes[0].split.as_ref().unwrap();
    let (l, r) = (&tree.nodes[split.left], &tree.nodes[split.right]);
    assert!((l.value + g_neg / (h_neg + lambda)).abs() < 1e-12);
    assert!((r.value + g_pos / (h_pos + lambda)).abs() < 1e-12);
    assert!((l.cover - h_neg).abs() < 1e-9);
}

#[test]
fn missing_values_learn_their_side() {
    // x missing exactly on the positives: the split is "missing or not".
    let x: Vec<f64> = (0..100)
        .map(|i| if i >= 60 { f64::NAN } else { f64::from(i % 7) })
        .collect();
    let y: Vec<bool> = (0..100).map(|i| i >= 60).collect();
    let fit = fit(&x, &y, &vec![1.0; 100], 1, None, &one_tree(0.0)).unwrap();
    let tree = &fit.ensemble.trees[0];
    let split = tree.nodes[0].split.as_ref().unwrap();
    let missing_leaf = if split.default_left {
        split.left
    } else {
        split.right
    };
    assert_eq!(tree.nodes[missing_leaf].rows, 40.0);
    assert!(fit.ensemble.margin(&[f64::NAN]) > 0.0);
    assert!(fit.ensemble.margin(&[3.0]) < 0.0);
}

/// A noisy task on 6 features with some missing values.
fn task(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut state = seed;
    let mut next = || {
        state = mix(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut x = Vec::with_capacity(n * 6);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..6).map(|_| next()).collect();
        let z = 3.0 * row[0] - 2.0 * (row[1] > 0.5) as u8 as f64 + row[2] * row[3] * 4.0 - 1.0;
        y.push(next() < 1.0 / (1.0 + (-z).exp()));
        for (j, v) in row.into_iter().enumerate() {
            x.push(if j == 4 && v < 0.1 { f64::NAN } else { v });
        }
    }
    (x, y)
}

#[test]
fn the_same_trees_whatever_the_threads() {
    let (x, y) = task(60_000, 7);
    let s = vec![1.0; y.len()];
    let options = |threads| GbdtOptions {
        max_iterations: 5,
        subsample: 0.8,
        threads,
        ..GbdtOptions::default()
    };
    let one = fit(&x, &y, &s, 6, None, &options(1)).unwrap();
    let three = fit(&x, &y, &s, 6, None, &options(3)).unwrap();
    assert_eq!(one.ensemble, three.ensemble);
    assert_eq!(one.ensemble.trees[0].leaves(), 31);
    let other_seed = fit(
        &x,
        &y,
        &s,
        6,
        None,
        &GbdtOptions {
            seed: 1,
            ..options(2)
        },
    )
    .unwrap();
    assert_ne!(one.ensemble, other_seed.ensemble);
}

#[test]
fn limits_hold_and_early_stopping_keeps_the_best_count() {
    let (x, y) = task(4000, 7);
    let (ex, ey) = task(1000, 8);
    let s = vec![1.0; y.len()];
    let options = GbdtOptions {
        max_iterations: 300,
        learning_rate: 0.5,
        num_leaves: 8,
        max_depth: Some(2),
        early_stop_rounds: Some(5),
        ..GbdtOptions::default()
    };
    let fit = fit(&x, &y, &s, 6, Some((&ex, &ey)), &options).unwrap();
    assert!(fit.grown < 300 && fit.ensemble.trees.len() + 5 == fit.grown);
    let best = fit.eval_loss.last().unwrap();
    assert!(fit.eval_loss.iter().all(|l| l >= best));
    for tree in &fit.ensemble.trees {
        // Depth 2: at most 4 leaves, despite num_leaves 8.
        assert!(tree.leaves() <= 4);
        for node in tree.nodes.iter().filter(|n| n.split.is_none()) {
            assert!(node.rows >= 20.0);
        }
    }
}

#[test]
fn a_single_class_is_refused() {
    let e = fit(
        &[1.0, 2.0],
        &[true, true],
        &[1.0, 1.0],
        1,
        None,
        &GbdtOptions::default(),
    );
    assert!(e.unwrap_err().contains("single class"));
}

#[test]
fn importance_counts_splits_gain_and_cover() {
    let (x, y) = step();
    let fit = fit(&x, &y, &vec![1.0; 100], 1, None, &one_tree(1.0)).unwrap();
    let imp = fit.ensemble.importance(1);
    assert_eq!(imp[0].0, 1);
    assert!((imp[0].1 - 2.0 * 625.0 / 13.5).abs() < 1e-9);
    assert!((imp[0].2 - 25.0).abs() < 1e-12);
}

#[test]
fn binned_rows_fall_in_the_leaves_their_values_do() {
    // Missing exactly on the positives: the first split sends every value
    // left and missing right, a threshold at the last bin's edge.
    let (mut x, y) = task(3000, 3);
    for (i, &l) in y.iter().enumerate() {
        x[i * 6] = if l { f64::NAN } else { x[i * 6] };
    }
    let options = GbdtOptions {
        max_iterations: 5,
        ..GbdtOptions::default()
    };
    let fit = fit(&x, &y, &vec![1.0; y.len()], 6, None, &options).unwrap();
    let root = fit.ensemble.trees[0].nodes[0].split.clone().unwrap();
    assert_eq!((root.feature, root.threshold), (0, f64::MAX));
    let edges: Vec<Edges> = (0..6)
        .map(|j| Edges::from_values(&mut x.iter().skip(j).step_by(6).copied().collect(), 255))
        .collect();
    for row in x.chunks_exact(6) {
        let binned: Vec<u8> = row.iter().zip(&edges).map(|(v, e)| e.bin(*v)).collect();
        for tree in &fit.ensemble.trees {
            assert_eq!(binned_leaf(tree, &binned, &edges), tree.leaf(row));
        }
    }
}

/// Squared error: one stump at η = 1, λ = 0 splits a two-level target at
/// its step and each leaf holds its side's mean minus the base (the mean).
#[test]
fn a_regression_stump_holds_the_side_means() {
    let x: Vec<f64> = (0..100).map(f64::from).collect();
    let t: Vec<f64> = x
        .iter()
        .map(|&v| if v < 30.0 { -1.0 } else { 2.0 })
        .collect();
    let fit = fit_regression(&x, &t, &[1.0; 100], 1, None, &one_tree(0.0)).unwrap();
    let mean = (-30.0 + 70.0 * 2.0) / 100.0;
    assert!((fit.ensemble.base - mean).abs() < 1e-12);
    assert!((fit.ensemble.margin(&[10.0]) + 1.0).abs() < 1e-12);
    assert!((fit.ensemble.margin(&[80.0]) - 2.0).abs() < 1e-12);
    assert!(fit_regression(&x, &[f64::NAN; 100], &[1.0; 100], 1, None, &one_tree(0.0)).is_err());
}
