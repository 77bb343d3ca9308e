//! TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2; path-dependent):
//! exact Shapley values of a tree's prediction in polynomial time, where a
//! coalition's value is the tree's expectation with the coalition's
//! features fixed to the row and the others following the training rows
//! down both branches (weighted by the rows each side held).
//!
//! Per row, `φ` sums to margin − expected value: the contributions and
//! [`expected_value`] add up to the raw margin exactly.

use super::{Ensemble, Tree, go_left};

/// One feature on the current path: the fraction of the rows that follow
/// the path when it is out of the coalition (`zero`) or in it (`one`),
/// and the permutation weight of subsets of that size.
#[derive(Debug, Clone, Copy)]
struct Element {
    feature: Option<usize>,
    zero: f64,
    one: f64,
    weight: f64,
}

/// The ensemble's expected margin: the base plus each tree's leaf values
/// weighted by the share of training rows reaching them.
pub fn expected_value(ensemble: &Ensemble) -> f64 {
    ensemble.base + ensemble.trees.iter().map(tree_expectation).sum::<f64>()
}

fn tree_expectation(tree: &Tree) -> f64 {
    fn walk(tree: &Tree, at: usize, share: f64) -> f64 {
        let node = &tree.nodes[at];
        match &node.split {
            None => share * node.value,
            Some(s) => {
                let (l, r) = (&tree.nodes[s.left], &tree.nodes[s.right]);
                walk(tree, s.left, share * l.rows / node.rows)
                    + walk(tree, s.right, share * r.rows / node.rows)
            }
        }
    }
    walk(tree, 0, 1.0)
}

/// Adds each dimension's contribution for `row` (of the ensemble's margin)
/// to `phi` (one slot per dimension).
pub fn contributions(ensemble: &Ensemble, row: &[f64], phi: &mut [f64]) {
    for tree in &ensemble.trees {
        recurse(tree, 0, row, phi, &[], 1.0, 1.0, None);
    }
}

#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    at: usize,
    row: &[f64],
    phi: &mut [f64],
    parent: &[Element],
    zero: f64,
    one: f64,
    feature: Option<usize>,
) {
    let mut path = parent.to_vec();
    extend(&mut path, zero, one, feature);
    let node = &tree.nodes[at];
    let Some(s) = &node.split else {
        for i in 1..path.len() {
            let w = unwound_sum(&path, i);
            let e = path[i];
            if let Some(f) = e.feature {
                phi[f] += w * (e.one - e.zero) * node.value;
            }
        }
        return;
    };
    let (hot, cold) = if go_left(s, row[s.feature]) {
        (s.left, s.right)
    } else {
        (s.right, s.left)
    };
    let (mut in_zero, mut in_one) = (1.0, 1.0);
    if let Some(k) = path.iter().position(|e| e.feature == Some(s.feature)) {
        in_zero = path[k].zero;
        in_one = path[k].one;
        unwind(&mut path, k);
    }
    let hot_share = tree.nodes[hot].rows / node.rows;
    let cold_share = tree.nodes[cold].rows / node.rows;
    recurse(
        tree,
        hot,
        row,
        phi,
        &path,
        hot_share * in_zero,
        in_one,
        Some(s.feature),
    );
    recurse(
        tree,
        cold,
        row,
        phi,
        &path,
        cold_share * in_zero,
        0.0,
        Some(s.feature),
    );
}

fn extend(path: &mut Vec<Element>, zero: f64, one: f64, feature: Option<usize>) {
    let depth = path.len();
    path.push(Element {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    });
    let l = depth as f64;
    for i in (0..depth).rev() {
        let w = path[i].weight;
        path[i + 1].weight += one * w * (i as f64 + 1.0) / (l + 1.0);
        path[i].weight = zero * w * (l - i as f64) / (l + 1.0);
    }
}

/// Removes element `k` from the path, undoing its extension.
fn unwind(path: &mut Vec<Element>, k: usize) {
    let depth = path.len() - 1;
    let (one, zero) = (path[k].one, path[k].zero);
    let l = depth as f64;
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let t = path[i].weight;
            path[i].weight = next * (l + 1.0) / ((i as f64 + 1.0) * one);
            next = t - path[i].weight * zero * (l - i as f64) / (l + 1.0);
        } else {
            path[i].weight = path[i].weight * (l + 1.0) / (zero * (l - i as f64));
        }
    }
    for i in k..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
    path.pop();
}

/// The total weight of the path were element `k` unwound.
fn unwound_sum(path: &[Element], k: usize) -> f64 {
    let depth = path.len() - 1;
    let (one, zero) = (path[k].one, path[k].zero);
    let l = depth as f64;
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let t = next * (l + 1.0) / ((i as f64 + 1.0) * one);
            total += t;
            next = path[i].weight - t * zero * (l - i as f64) / (l + 1.0);
        } else {
            total += path[i].weight / zero / ((l - i as f64) / (l + 1.0));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::super::{Node, Split};
    use super::*;

    fn leaf(value: f64, rows: f64) -> Node {
        Node {
            value,
            rows,
            cover: rows,
            split: None,
        }
    }

    fn inner(feature: usize, threshold: f64, left: usize, right: usize, rows: f64) -> Node {
        Node {
            value: 0.0,
            rows,
            cover: rows,
            split: Some(Split {
                feature,
                threshold,
                default_left: true,
                left,
                right,
                gain: 1.0,
            }),
        }
    }

    /// A tree on 3 features that tests feature 0 twice on one path.
    fn tree() -> Tree {
        Tree {
            nodes: vec![
                inner(0, 0.5, 1, 2, 100.0),
                inner(1, 0.5, 3, 4, 60.0),
                inner(2, 0.5, 5, 6, 40.0),
                leaf(1.0, 25.0),
                inner(0, 0.2, 7, 8, 35.0),
                leaf(-2.0, 10.0),
                leaf(3.0, 30.0),
                leaf(0.5, 20.0),
                leaf(-1.5, 15.0),
            ],
        }
    }

    /// v(S): the tree's expectation with the features in S fixed to `row`.
    fn value(tree: &Tree, at: usize, row: &[f64], set: u32) -> f64 {
        let node = &tree.nodes[at];
        match &node.split {
            None => node.value,
            Some(s) if set & (1 << s.feature) != 0 => {
                let next = if go_left(s, row[s.feature]) {
                    s.left
                } else {
                    s.right
                };
                value(tree, next, row, set)
            }
            Some(s) => {
                let share = |c: usize| tree.nodes[c].rows / node.rows;
                share(s.left) * value(tree, s.left, row, set)
                    + share(s.right) * value(tree, s.right, row, set)
            }
        }
    }

    /// Shapley's definition, every coalition enumerated.
    fn brute_force(tree: &Tree, row: &[f64], m: usize) -> Vec<f64> {
        let fact = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
        (0..m)
            .map(|i| {
                (0..1u32 << m)
                    .filter(|set| set & (1 << i) == 0)
                    .map(|set| {
                        let size = set.count_ones() as usize;
                        let weight = fact(size) * fact(m - size - 1) / fact(m);
                        weight * (value(tree, 0, row, set | (1 << i)) - value(tree, 0, row, set))
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn equals_exact_shapley_values() {
        let ensemble = Ensemble {
            base: 0.25,
            trees: vec![tree()],
        };
        for row in [
            [0.1, 0.9, 0.0],
            [0.3, 0.9, 0.9],
            [0.9, 0.1, 0.1],
            [0.9, 0.9, 0.9],
            [0.1, 0.1, 0.1],
            [f64::NAN, 0.9, 0.2],
        ] {
            let mut phi = vec![0.0; 3];
            contributions(&ensemble, &row, &mut phi);
            let exact = brute_force(&ensemble.trees[0], &row, 3);
            for (a, b) in phi.iter().zip(&exact) {
                assert!((a - b).abs() < 1e-12, "{row:?}: {phi:?} vs {exact:?}");
            }
            let total = expected_value(&ensemble) + phi.iter().sum::<f64>();
            assert!((total - ensemble.margin(&row)).abs() < 1e-12);
        }
    }
}
