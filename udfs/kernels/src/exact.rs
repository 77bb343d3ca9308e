//! Order-independent column statistics: exact sums of f64 values, so a
//! mean and standard deviation depend only on the multiset of values, not
//! on the order a parallel query delivered them in (a running sum or
//! Welford's update differ in their last bits from one order to another,
//! and the standardization they feed changes every encoded row).

/// An exact sum of f64 values: Shewchuk's non-overlapping partials (the
/// algorithm of Python's `math.fsum`), whose [`ExactSum::total`] is the
/// exact sum correctly rounded, hence the same for any order of additions.
/// Needs finite values whose running sum does not overflow.
#[derive(Debug, Clone, Default)]
pub struct ExactSum {
    /// Non-overlapping, increasing in magnitude; their exact sum is the
    /// sum of everything added.
    partials: Vec<f64>,
}

impl ExactSum {
    /// Adds `x` exactly.
    pub fn add(&mut self, mut x: f64) {
        let mut kept = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            // TwoSum for |x| ≥ |y|: hi + lo == x + y exactly.
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    /// Adds `a × b` exactly (its rounded product and the rounding error,
    /// by a fused multiply-add), unless the product under- or overflows.
    pub fn add_product(&mut self, a: f64, b: f64) {
        let p = a * b;
        self.add(p);
        self.add(a.mul_add(b, -p));
    }

    /// The exact sum, correctly rounded (round half to even).
    pub fn total(&self) -> f64 {
        let p = &self.partials;
        let Some(&last) = p.last() else {
            return 0.0;
        };
        // Sum from the largest partial down until the rest can no longer
        // change the result; then fix a halfway case the way Python's
        // fsum does (the next partial tells which way the exact sum lies).
        let mut n = p.len() - 1;
        let mut hi = last;
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }

    /// The partials, whose exact sum is the sum (for exact arithmetic on it).
    pub fn partials(&self) -> &[f64] {
        &self.partials
    }
}

/// Count, exact Σx and exact Σx² of a column, giving a mean and population
/// standard deviation that depend only on the multiset of values.
#[derive(Debug, Clone, Default)]
pub struct ExactMoments {
    /// Values added.
    pub count: u64,
    sum: ExactSum,
    squares: ExactSum,
}

impl ExactMoments {
    /// Adds a (finite) value.
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum.add(x);
        self.squares.add_product(x, x);
    }

    /// The mean (`None` without values).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum.total() / self.count as f64)
    }

    /// The population standard deviation (`None` without values). From
    /// n·Σx² − (Σx)², formed exactly (every product split by a fused
    /// multiply-add) and rounded once, so it has none of the cancellation
    /// the textbook one-pass formula suffers on offset values such as epochs.
    pub fn std(&self) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let mut scaled = ExactSum::default();
        for &q in self.squares.partials() {
            scaled.add_product(q, n);
        }
        let s = self.sum.partials();
        for &a in s {
            for &b in s {
                scaled.add_product(-a, b);
            }
        }
        Some((scaled.total().max(0.0) / n / n).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same values in other orders give the same bits; a sum that a
    /// running f64 sum gets wrong (1e16 + 1 + … − 1e16) comes out exact.
    #[test]
    fn exact_and_order_independent() {
        let mut state = 12345u64;
        let mut values: Vec<f64> = (0..5000)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                1.7e9 + u * 1e5 + if i % 7 == 0 { 1e-3 } else { 0.0 }
            })
            .collect();
        let moments = |values: &[f64]| {
            let mut m = ExactMoments::default();
            values.iter().for_each(|&x| m.add(x));
            (m.mean().unwrap().to_bits(), m.std().unwrap().to_bits())
        };
        let first = moments(&values);
        values.reverse();
        assert_eq!(moments(&values), first);
        values.sort_by(f64::total_cmp);
        assert_eq!(moments(&values), first);
        let mut s = ExactSum::default();
        for x in [1e16, 1.0, 1.0, 1.0, -1e16, 0.5] {
            s.add(x);
        }
        assert_eq!(s.total(), 3.5);
        // 0.1 + 0.2 + 0.3: exactly 0.6000000000000000055…, rounded to 0.6.
        let mut s = ExactSum::default();
        [0.1, 0.2, 0.3].iter().for_each(|&x| s.add(x));
        assert_eq!(s.total(), 0.6);
    }

    /// Against values computed by hand: an offset column whose spread the
    /// one-pass formula loses (x = 1e9 + {1, 2, 3, 4}: mean 1e9 + 2.5, std
    /// √1.25), and a constant column (std 0).
    #[test]
    fn offset_and_constant_columns() {
        let mut m = ExactMoments::default();
        [1.0, 2.0, 3.0, 4.0].iter().for_each(|x| m.add(1e9 + x));
        assert_eq!(m.mean(), Some(1e9 + 2.5));
        assert_eq!(m.std(), Some(1.25f64.sqrt()));
        let mut c = ExactMoments::default();
        (0..10).for_each(|_| c.add(0.1));
        assert_eq!((c.mean(), c.std()), (Some(0.1), Some(0.0)));
        assert_eq!(ExactMoments::default().mean(), None);
    }
}
