//! Stable least-significant-digit radix sorting by a 64-bit key: the
//! fits sort whole columns and rows once, where comparisons cost n·log n.

/// Bits sorted per pass: 2^11 counters stay in L1.
const BITS: u32 = 11;
const RADIX: usize = 1 << BITS;
/// Below this many items a comparison sort is faster.
const SMALL: usize = 4096;

/// A key that orders as [`f64::total_cmp`] orders the values: negative
/// values reversed, all below the positive ones.
pub fn total_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b & (1 << 63) != 0 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// The value of a [`total_key`].
pub fn from_total_key(k: u64) -> f64 {
    f64::from_bits(if k & (1 << 63) != 0 {
        k ^ (1 << 63)
    } else {
        !k
    })
}

/// Sorts `items` by `key`, stably (equal keys keep their order).
pub fn sort_by_key<T: Copy>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    if items.len() < SMALL {
        items.sort_by_key(&key);
        return;
    }
    let passes = 64u32.div_ceil(BITS) as usize;
    let mut counts = vec![[0usize; RADIX]; passes];
    for item in items.iter() {
        let k = key(item);
        for (p, count) in counts.iter_mut().enumerate() {
            count[(k >> (p as u32 * BITS)) as usize & (RADIX - 1)] += 1;
        }
    }
    // Every slot is written by each pass before it is read.
    let mut spare: Vec<T> = vec![items[0]; items.len()];
    for (p, count) in counts.iter_mut().enumerate() {
        // Every key with the same digit: the pass would keep the order.
        if count.contains(&items.len()) {
            continue;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        for item in items.iter() {
            let digit = (key(item) >> (p as u32 * BITS)) as usize & (RADIX - 1);
            spare[count[digit]] = *item;
            count[digit] += 1;
        }
        std::mem::swap(items, &mut spare);
    }
}

/// Whole numbers below this are told apart by a table, not a sort.
const TABLE: f64 = (1 << 20) as f64;

/// The sorted distinct values of `values` (as [`f64::total_cmp`] tells
/// them apart) and, for each value, its index among them.
pub fn distinct(values: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<u32>) {
    let values: Vec<f64> = values.collect();
    // Counts, days and weeks: a table of ranks, in one pass each way.
    let whole = |v: f64| (0.0..TABLE).contains(&v) && (v as u32 as f64).to_bits() == v.to_bits();
    if values.iter().all(|&v| whole(v)) {
        let top = values.iter().fold(0.0f64, |m, &v| m.max(v)) as usize;
        let mut rank = vec![0u32; top + 1];
        for &v in &values {
            rank[v as usize] = 1;
        }
        let mut sorted = Vec::new();
        for (v, r) in rank.iter_mut().enumerate() {
            if *r != 0 {
                *r = sorted.len() as u32;
                sorted.push(v as f64);
            }
        }
        let index = values.iter().map(|&v| rank[v as usize]).collect();
        return (sorted, index);
    }
    let mut keyed: Vec<(u64, u32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (total_key(v), i as u32))
        .collect();
    sort_by_key(&mut keyed, |&(k, _)| k);
    let mut sorted: Vec<f64> = Vec::new();
    let mut index = vec![0u32; keyed.len()];
    let mut previous = None;
    for (k, i) in keyed {
        if previous != Some(k) {
            sorted.push(from_total_key(k));
            previous = Some(k);
        }
        index[i as usize] = (sorted.len() - 1) as u32;
    }
    (sorted, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                match i % 7 {
                    0 => ((x >> 40) % 50) as f64,
                    1 => -(((x >> 40) % 50) as f64) / 4.0,
                    2 => f64::from_bits(x >> 12),
                    3 => -0.0,
                    4 => 0.0,
                    5 => f64::from_bits(x),
                    _ => (x >> 11) as f64 * 1e-300,
                }
            })
            .filter(|v| !v.is_nan())
            .collect()
    }

    #[test]
    fn keys_order_as_total_cmp_and_round_trip() {
        let v = values(3000, 7);
        for pair in v.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(total_key(a).cmp(&total_key(b)), a.total_cmp(&b), "{a} {b}");
            assert_eq!(from_total_key(total_key(a)).to_bits(), a.to_bits());
        }
    }

    #[test]
    fn sorting_by_key_is_a_stable_sort() {
        for n in [0, 1, 100, SMALL - 1, SMALL, 50_000] {
            let items: Vec<(u64, usize)> = values(n, n as u64)
                .iter()
                .enumerate()
                .map(|(i, v)| (total_key(*v) >> (i % 3 * 20), i))
                .collect();
            let mut want = items.clone();
            want.sort_by_key(|&(k, _)| k);
            let mut got = items;
            sort_by_key(&mut got, |&(k, _)| k);
            assert_eq!(got, want, "{n} items");
        }
    }

    #[test]
    fn distinct_values_and_indices_match_sorting() {
        let whole = |n: usize| -> Vec<f64> { (0..n).map(|i| ((i * 7919) % 1000) as f64).collect() };
        // Whole numbers (the table), with -0.0 or a fraction (the sort).
        let mut with_negative_zero = whole(5000);
        with_negative_zero[17] = -0.0;
        let mut with_fraction = whole(5000);
        with_fraction[3] = 2.5;
        for v in [
            values(0, 3),
            values(10, 3),
            values(20_000, 3),
            whole(20_000),
            with_negative_zero,
            with_fraction,
            vec![0.0, (1 << 20) as f64, 3.0],
        ] {
            let (sorted, index) = distinct(v.iter().copied());
            let mut want = v.clone();
            want.sort_by(f64::total_cmp);
            want.dedup_by(|a, b| a.total_cmp(b).is_eq());
            assert_eq!(
                sorted.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
            for (x, &i) in v.iter().zip(&index) {
                assert_eq!(sorted[i as usize].to_bits(), x.to_bits());
            }
        }
    }
}
