//! Deterministic random numbers and the samplers the simulation draws from.

use rand::RngCore;
use rand_distr::{Beta, Distribution, Gamma, Poisson};

/// xoshiro256++ written out here rather than taken from `rand::rngs::SmallRng`:
/// SmallRng's algorithm is explicitly allowed to change between rand releases,
/// and "same seed, same bytes" is part of the lake contract. The continuous
/// samplers (Gamma, Beta, Poisson) still come from `rand_distr`, whose
/// algorithms are pinned by Cargo.lock; a rand_distr upgrade may change the
/// generated values (but never determinism within one build).
#[derive(Clone, Debug)]
pub(crate) struct Rng64 {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stream identifiers, so that e.g. the products and customer 1 never
/// share a random stream even when their other key parts coincide.
pub(crate) mod stream {
    pub const CUSTOMER: u64 = 1;
    pub const PRODUCTS: u64 = 2;
    pub const STORES: u64 = 3;
    pub const CAMPAIGNS: u64 = 4;
    /// The raw sources: a customer's records, a household's shared
    /// contact details, and the keys that scramble record ids.
    pub const SOURCES: u64 = 5;
    pub const HOUSEHOLD: u64 = 6;
    pub const SOURCE_IDS: u64 = 7;
    /// The drinks club's members, tastes and ratings.
    pub const TASTES: u64 = 8;
}

impl Rng64 {
    /// An independent generator for the stream named by `key`
    /// (typically `[seed, stream, index]`).
    pub fn for_key(key: &[u64]) -> Self {
        let mut h = 0x243F_6A88_85A3_08D3u64;
        for &k in key {
            let mut x = h ^ k;
            h = splitmix64(&mut x);
        }
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut h);
        }
        if s == [0; 4] {
            // The all-zero state is a fixed point of xoshiro.
            s[0] = 1;
        }
        Rng64 { s }
    }

    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n); n == 0 gives 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift; the bias is below n / 2^64, irrelevant here.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform index into a slice of length `n`.
    #[inline]
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in [lo, hi); an empty range gives `lo`.
    #[inline]
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64) as i64
        }
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Exponential with the given mean.
    #[inline]
    pub fn exp(&mut self, mean: f64) -> f64 {
        -(1.0 - self.uniform()).ln() * mean
    }

    /// Standard normal (Box–Muller; one value per call keeps the stream simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma with `shape` k and `scale` θ (mean kθ). Degenerate parameters
    /// fall back to the mean so a bad table entry cannot panic a worker.
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        match Gamma::new(shape, scale) {
            Ok(d) => d.sample(self),
            Err(_) => shape * scale,
        }
    }

    /// Beta(a, b), mean a / (a + b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        match Beta::new(a, b) {
            Ok(d) => d.sample(self),
            Err(_) => a / (a + b),
        }
    }

    /// Poisson count with the given mean (0 for a non-positive mean).
    pub fn poisson(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 || !mean.is_finite() {
            return 0;
        }
        match Poisson::new(mean) {
            Ok(d) => {
                let v: f64 = d.sample(self);
                v.min(u32::MAX as f64) as u32
            }
            Err(_) => mean.round() as u32,
        }
    }

    /// An index drawn with probability proportional to `weights` (a linear
    /// scan, for short ad-hoc tables that are not worth a [`Weighted`]).
    pub fn choose(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.uniform() * total;
        for (i, &w) in weights.iter().enumerate() {
            if u < w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }

    /// A uniformly chosen element.
    #[inline]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
}

impl RngCore for Rng64 {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.s;
        let result = s0.wrapping_add(*s3).rotate_left(23).wrapping_add(*s0);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A fixed discrete distribution over `0..n`, sampled by binary search over
/// cumulative weights (the tables are small, so no alias method is needed).
#[derive(Clone, Debug)]
pub(crate) struct Weighted {
    cum: Box<[f64]>,
}

impl Weighted {
    /// Weights need not be normalised; negative weights count as zero.
    /// An all-zero table degenerates to a uniform choice.
    pub fn new(weights: &[f64]) -> Self {
        let mut acc = 0.0;
        let mut cum: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w.max(0.0);
                acc
            })
            .collect();
        if acc <= 0.0 {
            cum = (1..=weights.len()).map(|i| i as f64).collect();
        }
        Weighted { cum: cum.into() }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.cum.len()
    }

    /// Probability of outcome `i`.
    #[cfg(test)]
    pub fn prob(&self, i: usize) -> f64 {
        let total = self.cum[self.cum.len() - 1];
        let prev = if i == 0 { 0.0 } else { self.cum[i - 1] };
        (self.cum[i] - prev) / total
    }

    #[inline]
    pub fn sample(&self, rng: &mut Rng64) -> usize {
        let total = self.cum[self.cum.len() - 1];
        let u = rng.uniform() * total;
        self.cum
            .partition_point(|&c| c <= u)
            .min(self.cum.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 200_000;

    fn mean_var(xs: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64;
        (m, var)
    }

    fn close(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= rel * expected.abs()
    }

    fn first_values(key: &[u64]) -> Vec<u64> {
        let mut r = Rng64::for_key(key);
        (0..8).map(|_| r.next_u64()).collect()
    }

    #[test]
    fn same_key_same_stream_and_different_keys_differ() {
        assert_eq!(first_values(&[42, 1, 7]), first_values(&[42, 1, 7]));
        assert_ne!(first_values(&[42, 1, 7]), first_values(&[42, 1, 8]));
        assert_ne!(first_values(&[42, 1, 7]), first_values(&[43, 1, 7]));
    }

    #[test]
    fn uniform_and_below_stay_in_range_and_are_flat() {
        let mut r = Rng64::for_key(&[1]);
        let mut counts = [0usize; 10];
        for _ in 0..N {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            counts[r.below(10) as usize] += 1;
        }
        for c in counts {
            assert!(close(c as f64, N as f64 / 10.0, 0.03), "{counts:?}");
        }
        assert_eq!(r.between(5, 5), 5);
        for _ in 0..1000 {
            let v = r.between(-3, 4);
            assert!((-3..4).contains(&v));
        }
    }

    #[test]
    fn gamma_mean_and_variance_match_shape_scale() {
        let mut r = Rng64::for_key(&[2]);
        for (k, theta) in [(0.5, 2.0), (2.0, 3.0), (6.0, 0.25)] {
            let (m, v) = mean_var((0..N).map(|_| r.gamma(k, theta)));
            assert!(close(m, k * theta, 0.02), "gamma({k},{theta}) mean {m}");
            assert!(
                close(v, k * theta * theta, 0.06),
                "gamma({k},{theta}) var {v}"
            );
        }
    }

    #[test]
    fn beta_mean_matches() {
        let mut r = Rng64::for_key(&[3]);
        for (a, b) in [(1.0, 20.0), (3.0, 6.0), (2.0, 2.0)] {
            let (m, _) = mean_var((0..N).map(|_| r.beta(a, b)));
            assert!(close(m, a / (a + b), 0.03), "beta({a},{b}) mean {m}");
        }
    }

    #[test]
    fn poisson_exponential_and_normal_moments_match() {
        let mut r = Rng64::for_key(&[4]);
        for mean in [0.3, 4.0, 40.0] {
            let (m, v) = mean_var((0..N).map(|_| r.poisson(mean) as f64));
            assert!(close(m, mean, 0.03), "poisson({mean}) mean {m}");
            assert!(close(v, mean, 0.06), "poisson({mean}) var {v}");
        }
        assert_eq!(r.poisson(0.0), 0);
        let (m, _) = mean_var((0..N).map(|_| r.exp(3.5)));
        assert!(close(m, 3.5, 0.02), "exp mean {m}");
        let (m, v) = mean_var((0..N).map(|_| r.normal()));
        assert!(m.abs() < 0.01 && close(v, 1.0, 0.02), "normal {m} {v}");
    }

    #[test]
    fn weighted_and_choose_follow_weights() {
        let w = Weighted::new(&[1.0, 0.0, 3.0, 6.0]);
        assert!(close(w.prob(3), 0.6, 1e-12));
        let mut r = Rng64::for_key(&[5]);
        let mut counts = [0usize; 4];
        for _ in 0..N {
            counts[w.sample(&mut r)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (i, c) in counts.iter().enumerate() {
            assert!(close(*c as f64 / N as f64, w.prob(i), 0.03), "{counts:?}");
        }
        let mut counts = [0usize; 3];
        for _ in 0..N {
            counts[r.choose(&[0.2, 0.0, 0.8])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(close(counts[2] as f64 / N as f64, 0.8, 0.02), "{counts:?}");
        let uniform = Weighted::new(&[0.0, 0.0]);
        assert!(close(uniform.prob(0), 0.5, 1e-12));
    }
}
