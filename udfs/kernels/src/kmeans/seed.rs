//! Seeding: k-means++ (greedy, sequential) and k-means|| (a few parallel
//! oversampling rounds), and the parallel helpers they share with Lloyd.

use super::*;

/// k initial centroids (row-major) by `init` (resolved), searching with
/// `kernel`.
pub(super) fn seed(
    data: &[f32],
    d: usize,
    k: usize,
    init: Init,
    rng: &mut Rng,
    threads: usize,
    kernel: Kernel,
) -> Vec<f64> {
    match init {
        Init::Parallel => kmeans_parallel(data, d, k, rng, threads, kernel),
        _ => kmeans_plus_plus(data, None, d, k, rng, threads),
    }
}

/// Runs `f` on the fixed chunks of `items` (chunk start, chunk) on
/// `threads` threads, each chunk written by exactly one call, with a state
/// per worker thread made by `init` (buffers that outlive a chunk);
/// returns the calls' results in chunk order.
pub(super) fn par_chunks_mut_with<T: Send, R: Send, S>(
    items: &mut [T],
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let results: Mutex<Vec<Option<R>>> =
        Mutex::new((0..items.len().div_ceil(CHUNK)).map(|_| None).collect());
    let work = Mutex::new(items.chunks_mut(CHUNK).enumerate());
    let run = || {
        let mut state = init();
        loop {
            let next = work.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((c, chunk)) = next else { break };
            let result = f(&mut state, c * CHUNK, chunk);
            results.lock().unwrap_or_else(|e| e.into_inner())[c] = Some(result);
        }
    };
    if threads <= 1 {
        run();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(run);
            }
        });
    }
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every chunk ran"))
        .collect()
}

/// A uniform number in [0, 1) that depends only on `salt` and `i`, so a
/// point's draw does not depend on which thread makes it.
pub(super) fn unit(salt: u64, i: usize) -> f64 {
    Rng::new(salt ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_f64()
}

/// Sums per-point values in fixed chunk order (the same bits on any number
/// of threads).
pub(super) fn ordered_sum(n: usize, threads: usize, value: impl Fn(usize) -> f64 + Sync) -> f64 {
    par_chunks(n, threads, |range| range.map(&value).sum::<f64>())
        .iter()
        .sum()
}

/// k-means|| (Bahmani et al. 2012). Each round is one parallel pass: every
/// point joins the candidates independently with probability
/// min(1, ℓ·D²/ψ) (ℓ = 2k, D² its squared distance to the nearest
/// candidate, ψ their sum), so no round needs a sequential scan. The
/// ~ℓ × rounds candidates, weighted by the points nearest to them, are then
/// reduced to k by weighted greedy k-means++, a small problem.
pub(super) fn kmeans_parallel(
    data: &[f32],
    d: usize,
    k: usize,
    rng: &mut Rng,
    threads: usize,
    kernel: Kernel,
) -> Vec<f64> {
    let n = data.len() / d;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut candidates: Vec<f32> = row(rng.below(n)).to_vec();
    // Per point: squared distance to the nearest candidate, and which.
    let mut nearest_candidate = vec![(f64::INFINITY, 0u32); n];
    let oversampling = 2.0 * k as f64;
    let mut measured = 0;
    for round in 0..=PARALLEL_ROUNDS {
        if candidates.len() > measured * d {
            let new: Vec<f64> = candidates[measured * d..]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let new = Centroids::with_kernel(&new, d, kernel);
            par_chunks_mut_with(
                &mut nearest_candidate,
                threads,
                Worker::default,
                |w, start, chunk| {
                    let points = &data[start * d..(start + chunk.len()) * d];
                    w.nearer(&new, points, chunk, measured as u32);
                },
            );
        }
        measured = candidates.len() / d;
        if round == PARALLEL_ROUNDS {
            break;
        }
        let cost = ordered_sum(n, threads, |i| nearest_candidate[i].0);
        if cost <= 0.0 {
            break;
        }
        let salt = rng.next_u64();
        let picked = par_chunks(n, threads, |range| {
            range
                .filter(|&i| unit(salt, i) * cost < oversampling * nearest_candidate[i].0)
                .collect::<Vec<_>>()
        });
        for i in picked.into_iter().flatten() {
            candidates.extend_from_slice(row(i));
        }
    }
    let m = candidates.len() / d;
    if m < k {
        // Fewer distinct candidates than clusters (heavily repeated rows).
        return kmeans_plus_plus(data, None, d, k, rng, threads);
    }
    let mut weights = vec![0.0f64; m];
    for &(_, j) in &nearest_candidate {
        weights[j as usize] += 1.0;
    }
    kmeans_plus_plus(&candidates, Some(&weights), d, k, rng, threads)
}

/// `m` distinct row indices drawn uniformly (Floyd's algorithm), sorted.
pub(super) fn sample_rows(n: usize, m: usize, rng: &mut Rng) -> Vec<usize> {
    let mut chosen = std::collections::HashSet::with_capacity(m);
    for j in n - m..n {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    let mut rows: Vec<usize> = chosen.into_iter().collect();
    rows.sort_unstable();
    rows
}

/// Greedy k-means++ (Arthur & Vassilvitskii 2007, with the greedy trials
/// scikit-learn also uses): each new centroid is the best of 2 + ln(k)
/// candidates drawn with probability ∝ weight × squared distance (weights
/// are k-means||'s candidate counts; `None` is 1 each).
pub(super) fn kmeans_plus_plus(
    data: &[f32],
    weights: Option<&[f64]>,
    d: usize,
    k: usize,
    rng: &mut Rng,
    threads: usize,
) -> Vec<f64> {
    let n = data.len() / d;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let to64 = |r: &[f32]| r.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    // A point drawn with probability ∝ `mass` (uniformly when all is 0).
    let draw = |rng: &mut Rng, mass: &dyn Fn(usize) -> f64, total: f64| {
        if total <= 0.0 {
            return rng.below(n);
        }
        let target = rng.next_f64() * total;
        let mut acc = 0.0;
        (0..n)
            .position(|i| {
                acc += mass(i);
                acc > target
            })
            .unwrap_or(n - 1)
    };
    let first = match weights {
        None => rng.below(n),
        Some(w) => draw(rng, &|i| w[i], w.iter().sum()),
    };
    let mut centroids = to64(row(first));
    let first = centroids.clone();
    let mut closest: Vec<f64> = par_chunks(n, threads, |range| {
        range
            .map(|i| weight(i) * sq_dist(row(i), &first))
            .collect::<Vec<_>>()
    })
    .concat();
    let trials = 2 + (k as f64).ln().floor() as usize;
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        let candidates: Vec<usize> = (0..trials)
            .map(|_| draw(rng, &|i| closest[i], total))
            .collect();
        // The candidate that lowers the total weighted squared distance most wins.
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for &cand in &candidates {
            let c = to64(row(cand));
            let updated: Vec<f64> = par_chunks(n, threads, |range| {
                range
                    .map(|i| closest[i].min(weight(i) * sq_dist(row(i), &c)))
                    .collect::<Vec<_>>()
            })
            .concat();
            let cost: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, cand, updated));
            }
        }
        let (_, cand, updated) = best.expect("at least one candidate");
        centroids.extend(to64(row(cand)));
        closest = updated;
    }
    centroids
}
