//! What the k-means benchmarks share (`kmeans_vs_peers.rs` and
//! `kmeans_fit.rs`): the rows, so both measure the same data, and the
//! measured floating-point peak the kernels are compared with.

use std::time::Instant;

use super::Rng;

/// `k` Gaussian-ish blobs (sum of uniforms) plus 10% uniform noise, in
/// [-10, 10]^d, from a fixed seed.
pub fn data(n: usize, d: usize, k: usize) -> Vec<f32> {
    let mut rng = Rng::new(2026);
    let centres: Vec<f64> = (0..k * d).map(|_| rng.next_f64() * 16.0 - 8.0).collect();
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        if rng.next_f64() < 0.1 {
            out.extend((0..d).map(|_| (rng.next_f64() * 20.0 - 10.0) as f32));
        } else {
            let c = rng.below(k);
            out.extend((0..d).map(|j| {
                let noise: f64 = (0..4).map(|_| rng.next_f64() - 0.5).sum::<f64>() * 0.8;
                (centres[c * d + j] + noise) as f32
            }));
        }
    }
    out
}

/// The f32 FMA rate of all cores, best of three: each core runs twelve
/// independent chains of FMAs for about half a second on the widest vectors
/// it has.
pub fn measured_peak(threads: usize) -> (f64, &'static str) {
    let (lanes, isa) = peak::widest();
    let iterations = 20_000_000u64;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let sums: f32 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| scope.spawn(move || peak::chains(iterations)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
        });
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(sums);
        let flops = threads as f64 * iterations as f64 * 12.0 * lanes as f64 * 2.0;
        best = best.max(flops / seconds);
    }
    (best, isa)
}

/// The FMA loop of [`measured_peak`].
mod peak {
    /// f32 lanes of the widest FMA the CPU has, and its name.
    pub fn widest() -> (usize, &'static str) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return (16, "AVX-512");
            }
            if std::arch::is_x86_feature_detected!("fma") {
                return (8, "AVX2");
            }
        }
        (1, "scalar")
    }

    /// Twelve chains of `iterations` FMAs each; returns their sum so the
    /// loop is not optimised away.
    pub fn chains(iterations: u64) -> f32 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the feature.
                return unsafe { avx512(iterations) };
            }
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has the feature.
                return unsafe { avx2(iterations) };
            }
        }
        let mut acc = [1.0f32; 12];
        let (a, b) = (
            std::hint::black_box(0.999f32),
            std::hint::black_box(0.001f32),
        );
        for _ in 0..iterations {
            for x in acc.iter_mut() {
                *x = x.mul_add(a, b);
            }
        }
        acc.iter().sum()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn avx512(iterations: u64) -> f32 {
        use std::arch::x86_64::*;
        let a = _mm512_set1_ps(std::hint::black_box(0.999));
        let b = _mm512_set1_ps(std::hint::black_box(0.001));
        let mut acc = [_mm512_set1_ps(1.0); 12];
        for _ in 0..iterations {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn avx2(iterations: u64) -> f32 {
        use std::arch::x86_64::*;
        let a = _mm256_set1_ps(std::hint::black_box(0.999));
        let b = _mm256_set1_ps(std::hint::black_box(0.001));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iterations {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut sum = 0.0;
        for x in acc {
            // SAFETY: 8 lanes into an array of 8.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
            sum += lanes.iter().sum::<f32>();
        }
        sum
    }
}
