//! The row layout: four points per pass over blocks of eight centroids,
//! used by training (portable code, with the AVX2 build chosen at run time).

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::{Centroids, LANES, POINTS};

/// Per point: (index, ‖c‖² − 2x·c of the best, of the second best), in f32.
pub(super) fn approx_scan(c: &Centroids, points: &[f32], out: &mut [(u32, f32, f32)]) {
    #[cfg(target_arch = "x86_64")]
    {
        if c.kernel.path() != super::Path::Portable {
            // SAFETY: a kernel's path is one the CPU has (Kernel::new), and
            // avx512 includes AVX2 and FMA.
            scan(c, points, out, |c, p, o| unsafe { avx2::tile(c, p, o) });
            return;
        }
    }
    scan(c, points, out, tile_portable);
}

pub(super) type Tile = (u32, f32, f32);

/// Runs `tile` over `POINTS` points at a time, padding the last few with
/// copies of the first of them.
#[inline(always)]
pub(super) fn scan(
    c: &Centroids,
    points: &[f32],
    out: &mut [Tile],
    tile: impl Fn(&Centroids, &[f32], &mut [Tile]),
) {
    let d = c.d;
    let mut full = points.chunks_exact(POINTS * d);
    let mut outs = out.chunks_exact_mut(POINTS);
    for (points, o) in (&mut full).zip(&mut outs) {
        tile(c, points, o);
    }
    let rest = full.remainder();
    if !rest.is_empty() {
        let mut padded = Vec::with_capacity(POINTS * d);
        padded.extend_from_slice(rest);
        while padded.len() < POINTS * d {
            padded.extend_from_slice(&rest[..d]);
        }
        let mut o = [(0u32, 0.0f32, 0.0f32); POINTS];
        tile(c, &padded, &mut o);
        let tail = outs.into_remainder();
        let m = tail.len();
        tail.copy_from_slice(&o[..m]);
    }
}

/// One lane's running best, second best and best index after value `v` of
/// centroid `j`: compares and selects only (NaN changes nothing), the same
/// on the portable and the vector path.
#[inline(always)]
pub(super) fn lane_update(best: &mut f32, second: &mut f32, index: &mut u32, v: f32, j: u32) {
    let (below_best, below_second) = (v < *best, v < *second);
    *second = if below_best {
        *best
    } else if below_second {
        v
    } else {
        *second
    };
    if below_best {
        *index = j;
        *best = v;
    }
}

/// The lanes' results merged: the best (lowest index on ties) and the
/// smallest of everything else.
pub(super) fn reduce_lanes(
    best: &[f32; LANES],
    second: &[f32; LANES],
    index: &[u32; LANES],
) -> Tile {
    let mut win = 0;
    for l in 1..LANES {
        if best[l] < best[win] || (best[l] == best[win] && index[l] < index[win]) {
            win = l;
        }
    }
    let mut runner_up = f32::INFINITY;
    for l in 0..LANES {
        runner_up = runner_up.min(second[l]);
        if l != win {
            runner_up = runner_up.min(best[l]);
        }
    }
    (index[win], best[win], runner_up)
}

/// `POINTS` points (row-major in `tile`) against every centroid block.
pub(super) fn tile_portable(c: &Centroids, tile: &[f32], out: &mut [Tile]) {
    let d = c.d;
    let mut best = [[f32::INFINITY; LANES]; POINTS];
    let mut second = [[f32::INFINITY; LANES]; POINTS];
    let mut index = [[0u32; LANES]; POINTS];
    for (b, (block, norms)) in c
        .neg2
        .chunks_exact(d * LANES)
        .zip(c.norms.chunks_exact(LANES))
        .enumerate()
    {
        for p in 0..POINTS {
            let mut acc = [0.0f32; LANES];
            acc.copy_from_slice(norms);
            for (t, column) in block.chunks_exact(LANES).enumerate() {
                let x = tile[p * d + t];
                for l in 0..LANES {
                    acc[l] = x.mul_add(column[l], acc[l]);
                }
            }
            for l in 0..LANES {
                let j = (b * LANES + l) as u32;
                lane_update(
                    &mut best[p][l],
                    &mut second[p][l],
                    &mut index[p][l],
                    acc[l],
                    j,
                );
            }
        }
    }
    for (p, o) in out.iter_mut().enumerate() {
        *o = reduce_lanes(&best[p], &second[p], &index[p]);
    }
}

/// Every centroid's ‖c‖² − 2x·c in f32 (+∞ past k), by plain multiply and
/// add: the same bits on every path, since nothing is fused.
#[inline(always)]
pub(super) fn values_of(c: &Centroids, x: &[f32], values: &mut [f32]) {
    for ((block, norms), out) in c
        .neg2
        .chunks_exact(c.d * LANES)
        .zip(c.norms.chunks_exact(LANES))
        .zip(values.chunks_exact_mut(LANES))
    {
        let mut acc = [0.0f32; LANES];
        acc.copy_from_slice(norms);
        for (column, &xt) in block.chunks_exact(LANES).zip(x) {
            for l in 0..LANES {
                acc[l] += xt * column[l];
            }
        }
        out.copy_from_slice(&acc);
    }
}

/// [`values_of`] with 8-wide vectors: the same multiply and add per lane,
/// so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn values_avx2(c: &Centroids, x: &[f32], values: &mut [f32]) {
    use std::arch::x86_64::*;
    let d = c.d;
    assert!(x.len() >= d && values.len() >= c.norms.len());
    assert_eq!(c.neg2.len(), c.norms.len() * d);
    let blocks = c.norms.len() / LANES;
    // Four blocks at a time: four independent add chains hide the latency.
    let mut b = 0;
    while b < blocks {
        let m = (blocks - b).min(4);
        // SAFETY: (b + i)·8 + 8 ≤ norms.len() ≤ values.len() for i < m,
        // and ((b + i)·d + t)·8 + 8 ≤ neg2.len() for t < d (asserted above).
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (i, a) in acc.iter_mut().enumerate().take(m) {
                *a = _mm256_loadu_ps(c.norms.as_ptr().add((b + i) * LANES));
            }
            for (t, &xt) in x.iter().enumerate().take(d) {
                let xt = _mm256_set1_ps(xt);
                for (i, a) in acc.iter_mut().enumerate().take(m) {
                    let column = _mm256_loadu_ps(c.neg2.as_ptr().add(((b + i) * d + t) * LANES));
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(xt, column));
                }
            }
            for (i, a) in acc.iter().enumerate().take(m) {
                _mm256_storeu_ps(values.as_mut_ptr().add((b + i) * LANES), *a);
            }
        }
        b += m;
    }
}
