//! The panel kernel with AVX-512: sixteen points per vector, eight centroids
//! in flight.

use std::arch::x86_64::*;

use super::{Centroids, GROUP, PANEL, PANEL_LIMIT};

/// Centroids in flight per pass: enough independent FMA chains to
/// cover the latency of the two FMA ports.
const FLIGHT: usize = 8;

/// Where the kernel reads its panels from.
pub(super) trait Source {
    /// Panels of sixteen points.
    fn panels(&self) -> usize;
    /// Coordinate `t` of panel `p`'s sixteen points.
    ///
    /// # Safety
    /// `p < panels()`, `t` below the dimension count, and the CPU has
    /// AVX-512F.
    unsafe fn load(&self, p: usize, t: usize) -> __m512;
}

/// Points already laid out as panels (see [`super::Layout::Panels`]).
pub(super) struct Buffer<'a> {
    values: &'a [f32],
    d: usize,
}

impl<'a> Buffer<'a> {
    /// `values` holds whole panels of `d` dimensions.
    pub(super) fn new(values: &'a [f32], d: usize) -> Self {
        assert!(d > 0 && values.len().is_multiple_of(PANEL * d));
        Buffer { values, d }
    }
}

impl Source for Buffer<'_> {
    fn panels(&self) -> usize {
        self.values.len() / (PANEL * self.d)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(&self, p: usize, t: usize) -> __m512 {
        // SAFETY: (p·d + t + 1)·16 ≤ values.len() for p < panels(), t < d.
        unsafe { _mm512_loadu_ps(self.values.as_ptr().add((p * self.d + t) * PANEL)) }
    }
}

/// Points as one `f64` column per dimension, scaled and rounded to f32
/// as they are loaded: the same operations as [`super::Scale::apply`],
/// so the same bits. Rows past the end of the last panel read as 0.
pub(super) struct Columns<'a> {
    columns: &'a [&'a [f64]],
    scales: &'a [super::Scale],
    n: usize,
}

impl<'a> Columns<'a> {
    /// `columns` are equally long, one scale each.
    pub(super) fn new(columns: &'a [&'a [f64]], scales: &'a [super::Scale]) -> Self {
        let n = columns.first().map_or(0, |c| c.len());
        assert!(columns.iter().all(|c| c.len() == n) && scales.len() == columns.len());
        Columns { columns, scales, n }
    }
}

impl Source for Columns<'_> {
    fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(&self, p: usize, t: usize) -> __m512 {
        let (column, scale) = (self.columns[t], self.scales[t]);
        let at = column.as_ptr().wrapping_add(p * PANEL);
        let left = self.n - p * PANEL;
        // SAFETY: a full panel reads rows p·16 .. p·16 + 16 < n; the
        // last one only the rows its mask names, all below n.
        let (low, high) = unsafe {
            if left >= PANEL {
                (_mm512_loadu_pd(at), _mm512_loadu_pd(at.add(8)))
            } else {
                let mask = (1u32 << left) - 1;
                (
                    _mm512_maskz_loadu_pd(mask as u8, at),
                    _mm512_maskz_loadu_pd((mask >> 8) as u8, at.wrapping_add(8)),
                )
            }
        };
        let (shift, factor) = (_mm512_set1_pd(scale.shift), _mm512_set1_pd(scale.factor));
        let convert = |v| {
            _mm256_castps_pd(_mm512_cvtpd_ps(_mm512_mul_pd(
                _mm512_sub_pd(v, shift),
                factor,
            )))
        };
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(
            _mm512_castpd256_pd512(convert(low)),
            convert(high),
        ))
    }
}

/// [`super::panels_portable`] sixteen lanes at a time, the points of a
/// panel held in registers when d ≤ 16; each lane's runner-up value into
/// `seconds` when it is not empty.
#[target_feature(enable = "avx512f")]
pub(super) fn panels<S: Source>(
    c: &Centroids,
    source: &S,
    candidates: &mut [u32],
    certain: &mut [u16],
    seconds: &mut [f32],
) {
    // Whether runner-ups are written is a constant of the build, so the
    // kernel `cluster_assign` runs is the same code as without them.
    macro_rules! dims {
        ($w:literal; $($d:literal)*) => {
            match c.d {
                $($d => run::<$d, S, $w>(c, source, candidates, certain, seconds),)*
                _ => run::<0, S, $w>(c, source, candidates, certain, seconds),
            }
        };
    }
    if seconds.is_empty() {
        dims!(false; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    } else {
        dims!(true; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }
}

/// `D` is the dimension count when it is known at compile time (the
/// points then stay in registers), 0 otherwise (they are staged in a
/// panel-sized buffer); `W`: whether to write `seconds`.
#[target_feature(enable = "avx512f")]
fn run<const D: usize, S: Source, const W: bool>(
    c: &Centroids,
    source: &S,
    candidates: &mut [u32],
    certain: &mut [u16],
    seconds: &mut [f32],
) {
    let d = if D > 0 { D } else { c.d };
    let stride = d + 1;
    let groups = c.rows.len() / (GROUP * stride);
    let panels = source.panels();
    assert!(candidates.len() >= panels * PANEL && certain.len() >= panels);
    assert!(!W || seconds.len() >= panels * PANEL);
    assert_eq!(c.rows.len(), groups * GROUP * stride);
    assert_eq!(GROUP, 2 * FLIGHT);
    let keep = _mm512_set1_epi32(!(GROUP as i32 - 1));
    let low = _mm512_set1_epi32(GROUP as i32 - 1);
    let inf = _mm512_set1_ps(f32::INFINITY);
    let margin = _mm512_set1_ps(c.panel_margin());
    let max_norm = _mm512_set1_ps(c.max_norm32());
    let limit = _mm512_set1_ps(PANEL_LIMIT);
    let rows = c.rows.as_ptr();
    let mut staged = vec![0.0f32; if D > 0 { 0 } else { PANEL * d }];
    for (p, mask) in certain.iter_mut().enumerate().take(panels) {
        let mut held = [_mm512_setzero_ps(); 16];
        if D > 0 {
            for (t, h) in held.iter_mut().enumerate().take(D) {
                // SAFETY: p < panels, t < d.
                *h = unsafe { source.load(p, t) };
            }
        } else {
            for t in 0..d {
                // SAFETY: p < panels, t < d; staged holds d vectors of 16.
                unsafe { _mm512_storeu_ps(staged.as_mut_ptr().add(t * PANEL), source.load(p, t)) };
            }
        }
        // SAFETY: as above.
        let x = |t: usize| {
            if D > 0 {
                held[t]
            } else {
                unsafe { _mm512_loadu_ps(staged.as_ptr().add(t * PANEL)) }
            }
        };
        let (mut best, mut second, mut group) = (inf, inf, _mm512_setzero_si512());
        for g in 0..groups {
            let (mut group_best, mut group_second) = (inf, inf);
            // Both flights' FMAs come before either's bookkeeping, so the
            // second flight's FMAs fill the wait for the first's. Unrolled
            // by hand so each centroid's index bits are a constant (a
            // broadcast memory operand), not a broadcast on the ports.
            macro_rules! fmas {
                ($first:literal) => {{
                    let first = (g * GROUP + $first) * stride;
                    // SAFETY: first + FLIGHT·stride ≤ rows.len()
                    // (asserted: whole groups); offsets stay below.
                    let at = |u: usize, t: usize| unsafe {
                        _mm512_set1_ps(*rows.add(first + u * stride + t))
                    };
                    let mut acc = [inf; FLIGHT];
                    for (u, a) in acc.iter_mut().enumerate() {
                        *a = at(u, 0);
                    }
                    for t in 0..d {
                        let xt = x(t);
                        for (u, a) in acc.iter_mut().enumerate() {
                            *a = _mm512_fmadd_ps(xt, at(u, 1 + t), *a);
                        }
                    }
                    acc
                }};
            }
            macro_rules! keep_two {
                ($acc:expr, $first:literal) => {{
                    for (u, a) in $acc.iter().enumerate() {
                        let v = _mm512_castsi512_ps(_mm512_ternarylogic_epi32::<0xEA>(
                            _mm512_castps_si512(*a),
                            keep,
                            _mm512_set1_epi32(($first + u) as i32),
                        ));
                        group_second = _mm512_min_ps(group_second, _mm512_max_ps(group_best, v));
                        group_best = _mm512_min_ps(group_best, v);
                    }
                }};
            }
            let early = fmas!(0);
            let late = fmas!(8);
            keep_two!(early, 0);
            keep_two!(late, 8);
            let better = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(group_best, best);
            group = _mm512_mask_mov_epi32(group, better, _mm512_set1_epi32(g as i32));
            second = _mm512_min_ps(
                _mm512_min_ps(second, group_second),
                _mm512_max_ps(best, group_best),
            );
            best = _mm512_min_ps(best, group_best);
        }
        let mut xn = _mm512_setzero_ps();
        for t in 0..d {
            xn = _mm512_fmadd_ps(x(t), x(t), xn);
        }
        let scale = _mm512_add_ps(xn, max_norm);
        let gap = _mm512_sub_ps(second, best);
        let clear = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(gap, _mm512_mul_ps(margin, scale))
            & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(scale, limit);
        let index = _mm512_or_si512(
            _mm512_slli_epi32::<4>(group),
            _mm512_and_si512(_mm512_castps_si512(best), low),
        );
        // SAFETY: p·16 + 16 ≤ candidates.len() (asserted).
        unsafe { _mm512_storeu_si512(candidates.as_mut_ptr().add(p * PANEL).cast(), index) };
        if W {
            // SAFETY: p·16 + 16 ≤ seconds.len() (asserted).
            unsafe { _mm512_storeu_ps(seconds.as_mut_ptr().add(p * PANEL), second) };
        }
        *mask = clear;
    }
}
