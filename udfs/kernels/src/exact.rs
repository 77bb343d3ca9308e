//! Order-independent column statistics: exact sums of f64 values, so a
//! mean and standard deviation depend only on the multiset of values, not
//! on the order a parallel query delivered them in (a running sum or
//! Welford's update differ in their last bits from one order to another,
//! and the standardization they feed changes every encoded row).

/// Shewchuk's non-overlapping partials (the algorithm of Python's
/// `math.fsum`): their exact sum is the sum of everything added, and
/// [`Partials::total`] is it correctly rounded. Each addition walks the
/// partials, so [`ExactSum`] accumulates in fixed point and hands its few
/// limbs to this only when asked for a total.
#[derive(Debug, Clone, Default)]
struct Partials {
    /// Non-overlapping, increasing in magnitude.
    partials: Vec<f64>,
}

impl Partials {
    fn add(&mut self, mut x: f64) {
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

    /// The exact sum, correctly rounded (round half to even).
    fn total(&self) -> f64 {
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
}

/// Bits per limb of [`ExactSum`]'s fixed-point accumulator.
const LIMB_BITS: u32 = 32;
/// Limbs from 2^-1074 (the smallest subnormal) past 2^1024, with room for
/// carries.
const LIMBS: usize = 68;
/// Additions between carry propagations: each adds less than 2^32 to a
/// limb, so an i64 limb cannot overflow in between.
const CARRY_EVERY: u32 = 1 << 30;

/// An exact sum of f64 values, whose [`ExactSum::total`] is the exact sum
/// correctly rounded, hence the same for any order of additions. Needs
/// finite values whose running sum does not overflow.
///
/// Every finite f64 is an integer times 2^-1074, so the sum is kept as one
/// wide integer in 32-bit limbs (signed, carries propagated lazily): an
/// addition touches three limbs whatever came before, where walking
/// Shewchuk's partials costs several times more per value.
#[derive(Debug, Clone)]
pub struct ExactSum {
    limbs: Box<[i64; LIMBS]>,
    pending: u32,
    /// Nothing but −0.0 was added (IEEE's sum of negative zeros is −0.0).
    negative_zero: bool,
    any: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            limbs: Box::new([0; LIMBS]),
            pending: 0,
            negative_zero: true,
            any: false,
        }
    }
}

/// `x` × 2^`k`, exactly when the result is representable (as every limb's
/// value is): the power is applied in steps that stay normal.
fn scale(mut x: f64, mut k: i32) -> f64 {
    while k > 1000 {
        x *= f64::from_bits((1023 + 1000) << 52);
        k -= 1000;
    }
    while k < -1000 {
        x *= f64::from_bits((1023 - 1000) << 52);
        k += 1000;
    }
    x * f64::from_bits(((1023 + k) as u64) << 52)
}

impl ExactSum {
    /// Adds `x` exactly.
    pub fn add(&mut self, x: f64) {
        self.any = true;
        if x.to_bits() != (-0.0f64).to_bits() {
            self.negative_zero = false;
        }
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let fraction = bits & ((1 << 52) - 1);
        // x = ±mantissa × 2^(position − 1074).
        let (mantissa, position) = if exponent == 0 {
            (fraction, 0)
        } else {
            (fraction | 1 << 52, exponent - 1)
        };
        if mantissa == 0 {
            return;
        }
        let limb = (position / LIMB_BITS) as usize;
        let wide = u128::from(mantissa) << (position % LIMB_BITS);
        let mask = (1u128 << LIMB_BITS) - 1;
        let parts = [
            (wide & mask) as i64,
            ((wide >> LIMB_BITS) & mask) as i64,
            (wide >> (2 * LIMB_BITS)) as i64,
        ];
        let negative = bits >> 63 == 1;
        for (i, part) in parts.into_iter().enumerate() {
            self.limbs[limb + i] += if negative { -part } else { part };
        }
        self.pending += 1;
        if self.pending == CARRY_EVERY {
            carry(&mut self.limbs);
            self.pending = 0;
        }
    }

    /// Adds `a × b` exactly (its rounded product and the rounding error,
    /// by a fused multiply-add), unless the product under- or overflows.
    pub fn add_product(&mut self, a: f64, b: f64) {
        let p = a * b;
        self.add(p);
        self.add(a.mul_add(b, -p));
    }

    /// Shewchuk partials of the sum: the limbs' values, each exact in an
    /// f64, added with the sign the sum has.
    fn to_partials(&self) -> Partials {
        let mut limbs = *self.limbs;
        carry(&mut limbs);
        let negative = limbs[LIMBS - 1] < 0;
        if negative {
            for l in limbs.iter_mut() {
                *l = -*l;
            }
            carry(&mut limbs);
        }
        let mut out = Partials::default();
        for (i, &l) in limbs.iter().enumerate() {
            if l != 0 {
                let v = scale(l as f64, i as i32 * LIMB_BITS as i32 - 1074);
                out.add(if negative { -v } else { v });
            }
        }
        out
    }

    /// The exact sum, correctly rounded (round half to even).
    pub fn total(&self) -> f64 {
        let total = self.to_partials().total();
        if total == 0.0 && self.any && self.negative_zero {
            -0.0
        } else {
            total
        }
    }

    /// Partials whose exact sum is the sum (for exact arithmetic on it).
    pub fn partials(&self) -> Vec<f64> {
        self.to_partials().partials
    }
}

/// Propagates carries so every limb but the last is in [0, 2^32); the last
/// carries the sign.
fn carry(limbs: &mut [i64; LIMBS]) {
    for i in 0..LIMBS - 1 {
        let c = limbs[i] >> LIMB_BITS;
        limbs[i] -= c << LIMB_BITS;
        limbs[i + 1] += c;
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
        for q in self.squares.partials() {
            scaled.add_product(q, n);
        }
        let s = self.sum.partials();
        for &a in &s {
            for &b in &s {
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

    /// The fixed-point sum against Shewchuk's partials added one value at a
    /// time (the former implementation): the same bits for sums that
    /// cancel, span the whole exponent range, include subnormals and zeros.
    #[test]
    fn fixed_point_sum_equals_shewchuk() {
        let mut state = 99u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        };
        for case in 0..400 {
            let len = 1 + (next() % 300) as usize;
            let values: Vec<f64> = (0..len)
                .map(|_| {
                    let r = next();
                    match case % 4 {
                        // Any finite bit pattern below 2^1000 in magnitude.
                        0 => {
                            let x =
                                f64::from_bits(r & !(0x7ffu64 << 52) | ((r >> 52) % 2000) << 52);
                            if x.is_finite() { x } else { 1.0 }
                        }
                        // Subnormals and tiny normals.
                        1 => {
                            f64::from_bits(r % (1u64 << 54)) * if r >> 63 == 1 { -1.0 } else { 1.0 }
                        }
                        // Cancelling large and small values.
                        2 => [1e16, -1e16, 1.0, -0.5, 3e-300, 0.1, -0.0][(r % 7) as usize],
                        _ => (r >> 11) as f64 / (1u64 << 53) as f64 * 1e6 - 5e5,
                    }
                })
                .collect();
            let mut fast = ExactSum::default();
            let mut reference = Partials::default();
            for &x in &values {
                fast.add(x);
                reference.add(x);
            }
            let want = reference.total();
            assert_eq!(
                fast.total().to_bits(),
                want.to_bits(),
                "case {case}: {values:?}"
            );
        }
        // Signed zeros as IEEE addition gives them.
        let sum = |xs: &[f64]| {
            let mut s = ExactSum::default();
            xs.iter().for_each(|&x| s.add(x));
            s.total().to_bits()
        };
        assert_eq!(sum(&[-0.0, -0.0]), (-0.0f64).to_bits());
        assert_eq!(sum(&[-0.0, 0.0]), 0.0f64.to_bits());
        assert_eq!(sum(&[1.0, -1.0]), 0.0f64.to_bits());
        assert_eq!(sum(&[]), 0.0f64.to_bits());
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
