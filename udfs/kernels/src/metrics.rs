//! Cluster quality metrics for k-means models.

use crate::kmeans::{Rng, nearest};

/// Mean squared distance of the rows (n × d) to their nearest centroid.
pub fn mean_squared_distance(data: &[f64], d: usize, centroids: &[f64]) -> f64 {
    let n = data.len() / d;
    if n == 0 {
        return f64::NAN;
    }
    data.chunks_exact(d)
        .map(|row| nearest(centroids, d, row).1)
        .sum::<f64>()
        / n as f64
}

/// Davies–Bouldin index: the mean over clusters of the worst
/// (S_i + S_j) / d(c_i, c_j), with S the mean distance of a cluster's rows to
/// its centroid. Lower is better; clusters without rows are left out.
pub fn davies_bouldin(data: &[f64], d: usize, centroids: &[f64]) -> f64 {
    let k = centroids.len() / d;
    let mut spread = vec![0.0; k];
    let mut counts = vec![0u64; k];
    for row in data.chunks_exact(d) {
        let (j, dist2) = nearest(centroids, d, row);
        spread[j] += dist2.sqrt();
        counts[j] += 1;
    }
    davies_bouldin_of(&spread, &counts, d, centroids)
}

/// [`davies_bouldin`] from its sufficient statistics: per cluster, the sum
/// of its rows' distances to its centroid and how many rows it has.
pub fn davies_bouldin_of(sums: &[f64], counts: &[u64], d: usize, centroids: &[f64]) -> f64 {
    let k = centroids.len() / d;
    if sums.len() != k || counts.len() != k {
        return f64::NAN;
    }
    let mut spread = sums.to_vec();
    for (s, &c) in spread.iter_mut().zip(counts) {
        if c > 0 {
            *s /= c as f64;
        }
    }
    let used: Vec<usize> = (0..k).filter(|&j| counts[j] > 0).collect();
    if used.len() < 2 {
        return f64::NAN;
    }
    let centroid = |j: usize| &centroids[j * d..(j + 1) * d];
    let total: f64 = used
        .iter()
        .map(|&i| {
            used.iter()
                .filter(|&&j| j != i)
                .map(|&j| {
                    let sep = centroid(i)
                        .iter()
                        .zip(centroid(j))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        .sqrt();
                    if sep > 0.0 {
                        (spread[i] + spread[j]) / sep
                    } else {
                        f64::INFINITY
                    }
                })
                .fold(0.0, f64::max)
        })
        .sum();
    total / used.len() as f64
}

/// Mean silhouette of at most `sample` rows drawn with `seed` (all rows
/// when there are fewer), labels from the nearest centroid; a row alone in
/// its cluster (within the sample) scores 0, as in scikit-learn.
pub fn silhouette(data: &[f64], d: usize, centroids: &[f64], sample: usize, seed: u64) -> f64 {
    let n = data.len() / d;
    let mut rows: Vec<usize> = (0..n).collect();
    if n > sample {
        // Partial Fisher–Yates: the first `sample` entries are a uniform sample.
        let mut rng = Rng::new(seed);
        for i in 0..sample {
            let j = i + rng.below(n - i);
            rows.swap(i, j);
        }
        rows.truncate(sample);
    }
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let labels: Vec<usize> = rows
        .iter()
        .map(|&i| nearest(centroids, d, row(i)).0)
        .collect();
    let k = centroids.len() / d;
    if labels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 2
    {
        return f64::NAN;
    }
    let mut total = 0.0;
    for (a, &i) in rows.iter().enumerate() {
        let mut sums = vec![0.0; k];
        let mut counts = vec![0usize; k];
        for (b, &j) in rows.iter().enumerate() {
            if a == b {
                continue;
            }
            let dist = row(i)
                .iter()
                .zip(row(j))
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt();
            sums[labels[b]] += dist;
            counts[labels[b]] += 1;
        }
        let own = labels[a];
        if counts[own] == 0 {
            continue;
        }
        let a_i = sums[own] / counts[own] as f64;
        let b_i = (0..k)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        total += (b_i - a_i) / a_i.max(b_i);
    }
    total / rows.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: two clusters on a line, {0, 1} and {10, 11},
    /// centroids 0.5 and 10.5.
    #[test]
    fn metrics_on_a_line() {
        let data = [0.0, 1.0, 10.0, 11.0];
        let centroids = [0.5, 10.5];
        assert!((mean_squared_distance(&data, 1, &centroids) - 0.25).abs() < 1e-12);
        // S = 0.5 for both, separation 10: DB = (0.5 + 0.5) / 10 = 0.1.
        assert!((davies_bouldin(&data, 1, &centroids) - 0.1).abs() < 1e-12);
        // Row 0: a = 1, b = mean(10, 11) = 10.5, s = 9.5/10.5; row 1: a = 1,
        // b = mean(9, 10) = 9.5, s = 8.5/9.5; symmetric for the others.
        // sklearn.metrics.silhouette_score([[0],[1],[10],[11]], [0,0,1,1]) = 0.9000...
        let want = (9.5 / 10.5 + 8.5 / 9.5) / 2.0;
        assert!((silhouette(&data, 1, &centroids, 100, 1) - want).abs() < 1e-12);
    }
}
