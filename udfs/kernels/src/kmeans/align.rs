//! Cluster numbering: canonical ids for a fit, and a retrained model's
//! clusters matched to an earlier version's by minimum total squared
//! distance between centroids (Hungarian algorithm), so ids stay
//! comparable over time.

use super::*;

/// `fit` with its clusters renumbered: cluster `id` of the result is
/// cluster `order[id]` of `fit`.
pub(super) fn reorder(fit: KMeansFit, d: usize, order: &[usize]) -> KMeansFit {
    KMeansFit {
        centroids: order
            .iter()
            .flat_map(|&j| fit.centroids[j * d..(j + 1) * d].iter().copied())
            .collect(),
        sizes: order.iter().map(|&j| fit.sizes[j]).collect(),
        spread: order
            .iter()
            .filter_map(|&j| fit.spread.get(j).copied())
            .collect(),
        ..fit
    }
}

/// The clusters numbered by their centroids in ascending coordinate order
/// (compared left to right, `f64::total_cmp`; then by size): a numbering
/// that depends only on the centroids, so identical fits have identical ids.
pub fn canonical_clusters(fit: KMeansFit, d: usize) -> KMeansFit {
    let k = fit.sizes.len();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        fit.centroids[a * d..(a + 1) * d]
            .iter()
            .zip(&fit.centroids[b * d..(b + 1) * d])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(fit.sizes[a].cmp(&fit.sizes[b]))
    });
    reorder(fit, d, &order)
}

/// Minimum-cost perfect matching of the `n` × `n` matrix `cost`
/// (row-major): the column matched to each row. The Hungarian algorithm
/// (Kuhn–Munkres) with row and column potentials, O(n³): row by row, a
/// Dijkstra-like search over reduced costs finds the cheapest augmenting
/// path. A matrix holding a non-finite cost has no meaningful optimum and
/// gets the identity (the search's minimum would never be finite).
pub fn min_cost_assignment(cost: &[f64], n: usize) -> Vec<usize> {
    if cost.len() != n * n || cost.iter().any(|c| !c.is_finite()) {
        return (0..n).collect();
    }
    // Columns 1..=n; column 0 is the sentinel the search starts from.
    // row_of[j]: the row (1-based, 0 = none) matched to column j.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; n + 1];
    let mut row_of = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        let mut min_reduced = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if used[j] {
                    continue;
                }
                let reduced = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
                if reduced < min_reduced[j] {
                    min_reduced[j] = reduced;
                    way[j] = j0;
                }
                if min_reduced[j] < delta {
                    delta = min_reduced[j];
                    j1 = j;
                }
            }
            if j1 == 0 {
                // Only reachable through a rounding pathology; the
                // identity is a valid (if not optimal) matching.
                return (0..n).collect();
            }
            for j in 0..=n {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_reduced[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        // Augment along the path back to the sentinel.
        loop {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut column = vec![0usize; n];
    for j in 1..=n {
        if row_of[j] > 0 {
            column[row_of[j] - 1] = j - 1;
        }
    }
    column
}

/// Renumbers `fit` (d dimensions) so its cluster ids stay comparable with
/// an earlier model whose centroids (row-major, in the same encoded space)
/// are `previous`: new clusters are matched to the earlier ids
/// `0..min(k, k_previous)` by minimum total squared distance between
/// centroids ([`min_cost_assignment`]). When the new model has more
/// clusters, the ones left over take the ids after the earlier k, in their
/// canonical order; when it has fewer, the earlier ids past its k are gone.
pub fn align_to(fit: KMeansFit, d: usize, previous: &[f64]) -> KMeansFit {
    let k = fit.sizes.len();
    if d == 0 || k == 0 || previous.is_empty() || !previous.len().is_multiple_of(d) {
        return fit;
    }
    let old_k = previous.len() / d;
    // cost[i][j]: new cluster i taking id j; ids past the earlier k are
    // free (cost 0), so the matching decides which clusters are new.
    let cost: Vec<f64> = (0..k)
        .flat_map(|i| {
            let c = &fit.centroids[i * d..(i + 1) * d];
            (0..k).map(move |j| {
                if j < old_k {
                    sq_dist64(c, &previous[j * d..(j + 1) * d])
                } else {
                    0.0
                }
            })
        })
        .collect();
    let column = min_cost_assignment(&cost, k);
    let mut order = vec![usize::MAX; k];
    let mut left_over = Vec::new();
    for (i, &j) in column.iter().enumerate() {
        if j < old_k {
            order[j] = i;
        } else {
            left_over.push(i);
        }
    }
    // Clusters without an earlier match keep their canonical order.
    let mut free = order.iter_mut().filter(|o| **o == usize::MAX);
    for i in left_over {
        if let Some(slot) = free.next() {
            *slot = i;
        }
    }
    if order.contains(&usize::MAX) {
        return fit;
    }
    reorder(fit, d, &order)
}
