//! Histograms of a leaf's rows: per feature and bin, Σg, Σh and rows.
//!
//! The inner loop adds a row's (g, h, 1) as one f32×4 vector to each of its
//! features' bins: half the bytes of f64 sums and one SIMD add a feature.
//! f32 sums drift over many rows, so rows go in fixed blocks of [`BLOCK`]
//! whose f32 histograms are added in f64, in block order; counts stay exact
//! (a block's count is below 2²⁴). The f32 sums only choose splits: the
//! exact f64 Σg and Σh of the rows come beside, for leaf values and gains.
//!
//! A task is one block and a group of features; its sums do not depend on
//! how features are grouped or which thread runs it, and the blocks are
//! reduced in order, so the bits are the same whatever the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Slots per feature in a histogram: 255 value bins and the missing one.
pub(super) const SLOTS: usize = 256;

/// Sums of gradient, hessian and rows.
pub(super) type Sums = [f64; 3];

/// Rows a block at most: small enough that f32 sums stay close and counts
/// exact, large enough that reducing the blocks costs little.
pub(super) const BLOCK: usize = 1 << 14;

/// Below this many row × feature visits a histogram is built on one thread
/// (spawning costs more than it saves).
const PARALLEL_FROM: usize = 200_000;

/// One feature's f32 slots: Σg, Σh, rows, unused.
type Slots32 = [[f32; 4]; SLOTS];

/// A histogram (`d × SLOTS` sums, feature-major) of `rows` of the row-major
/// bins `binned` (d a row) and the exact f64 Σg, Σh of those rows.
pub(super) fn build(
    binned: &[u8],
    d: usize,
    rows: &[u32],
    gh: &[[f64; 2]],
    threads: usize,
) -> (Vec<Sums>, [f64; 2]) {
    let blocks = rows.len().div_ceil(BLOCK).max(1);
    let threads = if rows.len() * d < PARALLEL_FROM {
        1
    } else {
        threads.max(1)
    };
    // Few blocks: split the features too, so every thread has work.
    let groups = if blocks >= 2 * threads {
        1
    } else {
        threads.min(d)
    };
    let tasks = blocks * groups;
    let run = |task: usize| -> (Vec<Slots32>, [f64; 2]) {
        let (block, group) = (task / groups, task % groups);
        let (first, last) = (group * d / groups, (group + 1) * d / groups);
        let part = &rows[block * BLOCK..((block + 1) * BLOCK).min(rows.len())];
        let mut slots = vec![[[0f32; 4]; SLOTS]; last - first];
        let exact = fill(binned, d, first, part, gh, &mut slots);
        // One group's exact sums: the others' are the same rows.
        let exact = if group == 0 { exact } else { [0.0; 2] };
        (slots, exact)
    };
    let mut done: Vec<Option<(Vec<Slots32>, [f64; 2])>> = (0..tasks).map(|_| None).collect();
    if threads == 1 || tasks == 1 {
        for (task, slot) in done.iter_mut().enumerate() {
            *slot = Some(run(task));
        }
    } else {
        let next = AtomicUsize::new(0);
        let work = || {
            let mut mine = Vec::new();
            loop {
                let task = next.fetch_add(1, Ordering::Relaxed);
                if task >= tasks {
                    return mine;
                }
                mine.push((task, run(task)));
            }
        };
        std::thread::scope(|scope| {
            let others: Vec<_> = (1..threads.min(tasks)).map(|_| scope.spawn(work)).collect();
            for (task, out) in work() {
                done[task] = Some(out);
            }
            for handle in others {
                for (task, out) in handle.join().expect("histogram thread") {
                    done[task] = Some(out);
                }
            }
        });
    }
    let mut hist = vec![[0.0; 3]; d * SLOTS];
    let mut exact = [0.0; 2];
    for (task, out) in done.into_iter().enumerate() {
        let (slots, part_exact) = out.expect("every task ran");
        let group = task % groups;
        let first = group * d / groups;
        if group == 0 {
            exact[0] += part_exact[0];
            exact[1] += part_exact[1];
        }
        for (f, feature) in slots.iter().enumerate() {
            let to = &mut hist[(first + f) * SLOTS..(first + f + 1) * SLOTS];
            for (sum, s) in to.iter_mut().zip(feature) {
                sum[0] += f64::from(s[0]);
                sum[1] += f64::from(s[1]);
                sum[2] += f64::from(s[2]);
            }
        }
    }
    (hist, exact)
}

/// Adds `rows` into `slots`, the f32 histograms of features
/// `first..first + slots.len()`; returns the rows' f64 Σg and Σh.
fn fill(
    binned: &[u8],
    d: usize,
    first: usize,
    rows: &[u32],
    gh: &[[f64; 2]],
    slots: &mut [Slots32],
) -> [f64; 2] {
    let count = slots.len();
    let mut exact = [0.0; 2];
    for (k, &i) in rows.iter().enumerate() {
        // A deep leaf's rows are far apart: fetch the lines a few rows
        // ahead, which the out-of-order window alone does not reach.
        if let Some(&ahead) = rows.get(k + AHEAD) {
            let ahead = ahead as usize;
            prefetch(gh.as_ptr().wrapping_add(ahead).cast());
            prefetch(binned.as_ptr().wrapping_add(ahead * d + first).cast());
        }
        let i = i as usize;
        let [g, h] = gh[i];
        exact[0] += g;
        exact[1] += h;
        let v = [g as f32, h as f32, 1.0, 0.0];
        let row = &binned[i * d + first..i * d + first + count];
        for (feature, &b) in slots.iter_mut().zip(row) {
            let slot = &mut feature[usize::from(b)];
            for k in 0..4 {
                slot[k] += v[k];
            }
        }
    }
    exact
}

pub(super) use crate::prefetch;

/// Rows ahead to prefetch.
pub(super) const AHEAD: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct f64 sums, row by row.
    fn direct(binned: &[u8], d: usize, rows: &[u32], gh: &[[f64; 2]]) -> Vec<Sums> {
        let mut hist = vec![[0.0; 3]; d * SLOTS];
        for &i in rows {
            let i = i as usize;
            for f in 0..d {
                let slot = &mut hist[f * SLOTS + usize::from(binned[i * d + f])];
                slot[0] += gh[i][0];
                slot[1] += gh[i][1];
                slot[2] += 1.0;
            }
        }
        hist
    }

    fn data(n: usize, d: usize) -> (Vec<u8>, Vec<[f64; 2]>) {
        let mut state = 5u64;
        let mut next = || {
            state = super::super::mix(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
            state
        };
        let binned = (0..n * d).map(|_| (next() % 40) as u8 * 6 + 1).collect();
        let gh = (0..n)
            .map(|_| {
                let p = (next() >> 11) as f64 / (1u64 << 53) as f64;
                [p - f64::from(u8::from(next() % 3 == 0)), p * (1.0 - p)]
            })
            .collect();
        (binned, gh)
    }

    #[test]
    fn blocks_and_threads_match_direct_sums() {
        let (n, d) = (3 * BLOCK + 77, 7);
        let (binned, gh) = data(n, d);
        // Every third row, as a leaf holds them.
        let rows: Vec<u32> = (0..n as u32).filter(|i| i % 3 != 1).collect();
        let want = direct(&binned, d, &rows, &gh);
        let one = build(&binned, d, &rows, &gh, 1);
        for threads in [2, 3, 8] {
            assert_eq!(build(&binned, d, &rows, &gh, threads), one);
        }
        for (a, b) in one.0.iter().zip(&want) {
            assert!((a[0] - b[0]).abs() < 1e-3, "{a:?} {b:?}");
            assert!((a[1] - b[1]).abs() < 1e-3, "{a:?} {b:?}");
            assert_eq!(a[2], b[2]);
        }
        let exact = rows.iter().fold([0.0; 2], |[g, h], &i| {
            [g + gh[i as usize][0], h + gh[i as usize][1]]
        });
        assert!((one.1[0] - exact[0]).abs() < 1e-9 && (one.1[1] - exact[1]).abs() < 1e-9);
    }

    #[test]
    fn a_sibling_is_its_parent_minus_the_built_child() {
        let (n, d) = (BLOCK + 500, 4);
        let (binned, gh) = data(n, d);
        let rows: Vec<u32> = (0..n as u32).collect();
        let (small, large): (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&i| i % 5 == 0);
        let parent = build(&binned, d, &rows, &gh, 2).0;
        let built = build(&binned, d, &small, &gh, 2).0;
        let want = direct(&binned, d, &large, &gh);
        for ((p, c), w) in parent.iter().zip(&built).zip(&want) {
            for k in 0..3 {
                assert!((p[k] - c[k] - w[k]).abs() < 1e-3, "{p:?} {c:?} {w:?}");
            }
        }
    }
}
