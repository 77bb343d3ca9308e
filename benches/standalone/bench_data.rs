//! What the k-means benchmarks share (`kmeans_vs_peers.rs` and
//! `kmeans_fit.rs`): the rows, so both measure the same data, and the clock
//! rate the peaks are computed from.

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

/// The first core's clock in MHz from /proc/cpuinfo (NaN when unknown).
pub fn cpu_mhz() -> f64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN)
}
