//! [`super::row`]'s tile with 8-wide AVX2 FMAs.

use std::arch::x86_64::*;

use super::{Centroids, LANES, POINTS, Tile, reduce_lanes};

/// [`super::tile_portable`] with 8-wide AVX2 FMAs, compares and blends:
/// the same operations per lane, so the same bits.
#[target_feature(enable = "avx2,fma")]
pub(super) fn tile(c: &Centroids, tile: &[f32], out: &mut [Tile]) {
    let d = c.d;
    assert!(tile.len() >= POINTS * d && out.len() >= POINTS);
    assert_eq!(c.neg2.len(), c.norms.len() * d);
    let mut best = [_mm256_set1_ps(f32::INFINITY); POINTS];
    let mut second = best;
    let mut index = [_mm256_setzero_si256(); POINTS];
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for b in 0..c.norms.len() / LANES {
        // SAFETY: b * LANES + 8 ≤ norms.len(), and (b * d + t) * LANES + 8
        // ≤ neg2.len() = norms.len() * d for t < d (asserted above).
        let norms = unsafe { _mm256_loadu_ps(c.norms.as_ptr().add(b * LANES)) };
        let mut acc = [norms; POINTS];
        for t in 0..d {
            let column = unsafe { _mm256_loadu_ps(c.neg2.as_ptr().add((b * d + t) * LANES)) };
            for (p, a) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_ps(tile[p * d + t]);
                *a = _mm256_fmadd_ps(x, column, *a);
            }
        }
        let ids = _mm256_add_epi32(lanes, _mm256_set1_epi32((b * LANES) as i32));
        for p in 0..POINTS {
            let v = acc[p];
            let below_best = _mm256_cmp_ps::<_CMP_LT_OQ>(v, best[p]);
            let below_second = _mm256_cmp_ps::<_CMP_LT_OQ>(v, second[p]);
            second[p] = _mm256_blendv_ps(
                _mm256_blendv_ps(second[p], v, below_second),
                best[p],
                below_best,
            );
            index[p] = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(index[p]),
                _mm256_castsi256_ps(ids),
                below_best,
            ));
            best[p] = _mm256_blendv_ps(best[p], v, below_best);
        }
    }
    for (p, o) in out.iter_mut().take(POINTS).enumerate() {
        let (mut b, mut s, mut i) = ([0.0f32; LANES], [0.0f32; LANES], [0u32; LANES]);
        // SAFETY: each array holds exactly 8 lanes.
        unsafe {
            _mm256_storeu_ps(b.as_mut_ptr(), best[p]);
            _mm256_storeu_ps(s.as_mut_ptr(), second[p]);
            _mm256_storeu_si256(i.as_mut_ptr().cast(), index[p]);
        }
        *o = reduce_lanes(&b, &s, &i);
    }
}
