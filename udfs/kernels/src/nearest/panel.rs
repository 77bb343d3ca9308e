//! The panel layout one lane at a time: the definition the AVX-512 kernel
//! must reproduce bit for bit, and the path where that kernel is missing.

use super::{Centroids, GROUP, PANEL, PANEL_LIMIT};

/// One lane's running group best and second best after centroid value
/// `v`, whose place in its group is `u`: the index bits go into the value,
/// so `min` carries them (see the module docs).
#[inline(always)]
pub(super) fn encode_index(v: f32, u: usize) -> f32 {
    f32::from_bits((v.to_bits() & !(GROUP as u32 - 1)) | u as u32)
}

/// [`avx512::panels`] one lane at a time: the same operations in the same
/// order, so the same bits for finite values. With `seconds` not empty,
/// each lane's runner-up value (index bits and all) goes there.
pub(super) fn panels_portable(
    c: &Centroids,
    panels: &[f32],
    candidates: &mut [u32],
    certain: &mut [u16],
    seconds: &mut [f32],
) {
    let d = c.d;
    let stride = d + 1;
    let (margin, max_norm) = (c.panel_margin(), c.max_norm32());
    for (p, panel) in panels.chunks_exact(PANEL * d).enumerate() {
        let mut mask = 0u16;
        for lane in 0..PANEL {
            let (mut best, mut second, mut group) = (f32::INFINITY, f32::INFINITY, 0u32);
            for (g, rows) in c.rows.chunks_exact(GROUP * stride).enumerate() {
                let (mut group_best, mut group_second) = (f32::INFINITY, f32::INFINITY);
                for (u, row) in rows.chunks_exact(stride).enumerate() {
                    let mut acc = row[0];
                    for t in 0..d {
                        acc = panel[t * PANEL + lane].mul_add(row[1 + t], acc);
                    }
                    let v = encode_index(acc, u);
                    group_second = group_second.min(group_best.max(v));
                    group_best = group_best.min(v);
                }
                if group_best < best {
                    group = g as u32;
                }
                second = second.min(group_second).min(best.max(group_best));
                best = best.min(group_best);
            }
            let mut xn = 0.0f32;
            for t in 0..d {
                let v = panel[t * PANEL + lane];
                xn = v.mul_add(v, xn);
            }
            let scale = xn + max_norm;
            if second - best > margin * scale && scale < PANEL_LIMIT {
                mask |= 1 << lane;
            }
            candidates[p * PANEL + lane] = group * GROUP as u32 + (best.to_bits() & 0xF);
            if let Some(s) = seconds.get_mut(p * PANEL + lane) {
                *s = second;
            }
        }
        certain[p] = mask;
    }
}
