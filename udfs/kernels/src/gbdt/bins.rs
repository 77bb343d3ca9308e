//! Feature binning: each column's values become at most 255 ordered bins
//! (a byte a value), so a split search scans bins, not rows.
//!
//! Edges are midpoints between consecutive distinct values, as LightGBM
//! places its thresholds: with at most 255 distinct values every value is
//! a bin of its own; beyond, bins are closed greedily once they hold their
//! share of the remaining rows (quantiles that respect ties: a value never
//! straddles two bins). NaN (the missing value) is bin [`MISSING`].

use crate::sort;

/// The bin of a missing value.
pub const MISSING: u8 = 255;

/// Most value bins per feature (codes 0..=254).
pub const MAX_BINS: usize = 255;

/// Upper edges of one feature's bins: bin k holds the values x with
/// `uppers[k-1] < x ≤ uppers[k]`; the last edge is +∞.
#[derive(Debug, Clone, PartialEq)]
pub struct Edges {
    /// Ascending; never empty.
    pub uppers: Vec<f64>,
}

impl Edges {
    /// Edges from a feature's (non-missing) values; `max_bins` ≤ 255.
    pub fn from_values(values: &mut Vec<f64>, max_bins: usize) -> Self {
        let max_bins = max_bins.clamp(2, MAX_BINS);
        values.retain(|x| !x.is_nan());
        sort_total(values);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for &x in values.iter() {
            match distinct.last_mut() {
                Some((v, n)) if *v == x => *n += 1,
                _ => distinct.push((x, 1)),
            }
        }
        let mut uppers = Vec::new();
        if distinct.len() <= max_bins {
            for pair in distinct.windows(2) {
                uppers.push(midpoint(pair[0].0, pair[1].0));
            }
        } else {
            let mut remaining = values.len();
            let mut bins_left = max_bins;
            let mut held = 0;
            for (i, &(x, n)) in distinct.iter().enumerate() {
                held += n;
                let target = remaining.div_ceil(bins_left);
                let last = i + 1 == distinct.len();
                if held >= target && !last && bins_left > 1 {
                    uppers.push(midpoint(x, distinct[i + 1].0));
                    remaining -= held;
                    bins_left -= 1;
                    held = 0;
                }
            }
        }
        uppers.push(f64::INFINITY);
        Self { uppers }
    }

    /// Value bins.
    pub fn len(&self) -> usize {
        self.uppers.len()
    }

    /// Whether there are no bins (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.uppers.is_empty()
    }

    /// The bin of `x`: the first k with x ≤ uppers[k]; NaN is [`MISSING`].
    pub fn bin(&self, x: f64) -> u8 {
        if x.is_nan() {
            MISSING
        } else {
            self.uppers.partition_point(|&u| u < x) as u8
        }
    }
}

/// Each feature's edges (from row-major `x`, d a row) and its bins,
/// column-major (n a column). Features are independent, so threads take
/// whole columns and the result does not depend on their number.
pub(super) fn bin_columns(
    x: &[f64],
    d: usize,
    max_bins: usize,
    threads: usize,
) -> (Vec<Edges>, Vec<u8>) {
    let n = x.len() / d.max(1);
    let mut columns = vec![0u8; n * d];
    let mut work: Vec<(usize, Option<Edges>, &mut [u8])> = columns
        .chunks_mut(n.max(1))
        .enumerate()
        .map(|(j, bins)| (j, None, bins))
        .collect();
    let per = d.div_ceil(threads.clamp(1, d.max(1))).max(1);
    std::thread::scope(|scope| {
        for part in work.chunks_mut(per) {
            scope.spawn(move || {
                for (j, edges, bins) in part.iter_mut() {
                    let mut column: Vec<f64> = x.iter().skip(*j).step_by(d).copied().collect();
                    let e = Edges::from_values(&mut column, max_bins);
                    for (b, &v) in bins.iter_mut().zip(x.iter().skip(*j).step_by(d)) {
                        *b = e.bin(v);
                    }
                    *edges = Some(e);
                }
            });
        }
    });
    let edges = work
        .into_iter()
        .map(|(_, e, _)| e.expect("every column binned"))
        .collect();
    (edges, columns)
}

/// Row-major bins (d a row) from column-major ones.
pub(super) fn transpose(columns: &[u8], d: usize, threads: usize) -> Vec<u8> {
    let n = columns.len() / d.max(1);
    let mut rows = vec![0u8; n * d];
    let per = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (c, part) in rows.chunks_mut(per * d).enumerate() {
            scope.spawn(move || {
                for (k, row) in part.chunks_exact_mut(d).enumerate() {
                    let i = c * per + k;
                    for (j, b) in row.iter_mut().enumerate() {
                        *b = columns[j * n + i];
                    }
                }
            });
        }
    });
    rows
}

/// Sorts as [`f64::total_cmp`] does, by radix on bit patterns that order
/// as the values: every column is sorted once a fit.
fn sort_total(values: &mut [f64]) {
    let mut keys: Vec<u64> = values.iter().map(|&x| sort::total_key(x)).collect();
    sort::sort_by_key(&mut keys, |&k| k);
    for (v, k) in values.iter_mut().zip(keys) {
        *v = sort::from_total_key(k);
    }
}

/// A threshold between a and b (a < b) that is neither when they differ
/// by more than rounding.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    if m >= b || !m.is_finite() { a } else { m }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_are_a_bin_each() {
        let e = Edges::from_values(&mut vec![3.0, 1.0, f64::NAN, 2.0, 1.0], 255);
        assert_eq!(e.uppers, vec![1.5, 2.5, f64::INFINITY]);
        assert_eq!(
            [
                e.bin(1.0),
                e.bin(1.5),
                e.bin(2.0),
                e.bin(9.0),
                e.bin(f64::NAN)
            ],
            [0, 0, 1, 2, MISSING]
        );
    }

    #[test]
    fn radix_sort_orders_as_total_cmp() {
        let mut state = 3u64;
        let mut v: Vec<f64> = (0..20_000)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                match i % 7 {
                    0 => f64::from((state >> 60) as u8) - 8.0,
                    1 => -0.0,
                    2 => f64::INFINITY,
                    3 => f64::NEG_INFINITY,
                    _ => f64::from_bits(state >> 2) * if i % 2 == 0 { -1.0 } else { 1.0 },
                }
            })
            .collect();
        let mut want = v.clone();
        want.sort_by(f64::total_cmp);
        sort_total(&mut v);
        assert!(v.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn quantile_bins_keep_ties_together() {
        // 1000 distinct values into 4 bins: 250 each.
        let mut v: Vec<f64> = (0..1000).map(f64::from).collect();
        let e = Edges::from_values(&mut v, 4);
        assert_eq!(e.uppers, vec![249.5, 499.5, 749.5, f64::INFINITY]);
        // A heavy tie fills a bin alone.
        let mut v: Vec<f64> = (0..300)
            .map(|i| if i < 200 { 0.0 } else { f64::from(i) })
            .collect();
        let e = Edges::from_values(&mut v, 3);
        assert_eq!(e.bin(0.0), 0);
        assert!(e.bin(200.0) >= 1);
        assert!(e.len() <= 3);
    }
}
