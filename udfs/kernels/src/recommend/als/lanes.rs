//! The f32 products of the conjugate-gradient solves: portable code and an
//! AVX2 build chosen at run time. Both sum in the same lanes and the same
//! order, so they differ only by the FMA's single rounding. (An AVX-512
//! build measured no faster on the bench's EPYC: the passes are bound by
//! loads, not lanes.)

/// Factor rows are padded with zeros to a multiple of this many f32, so
/// every product runs in whole vectors (two of AVX2).
pub(super) const PAD: usize = 16;

/// Lanes of the partial sums of a dot product: one AVX2 vector.
const WIDTH: usize = 8;

/// The two products the solves are made of. Slices are whole multiples of
/// [`PAD`] long and of equal length.
pub(super) trait Lanes: Copy + Send + Sync {
    /// a·b.
    fn dot(self, a: &[f32], b: &[f32]) -> f32;
    /// acc += c·y.
    fn axpy(self, c: f32, y: &[f32], acc: &mut [f32]);
    /// out = Σⱼ cⱼ·rows(j), summed in j's order: the same bits as `axpy`
    /// in turn into zeros, the sums kept in registers.
    fn combine<'a>(self, c: &[f32], rows: impl Fn(usize) -> &'a [f32], out: &mut [f32]);
}

/// Plain Rust, for any CPU.
#[derive(Debug, Clone, Copy)]
pub(super) struct Portable;

/// The vector's lanes folded in the order AVX2's halving shuffles fold
/// them.
#[inline(always)]
fn fold(l: [f32; WIDTH]) -> f32 {
    let h = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    (h[0] + h[2]) + (h[1] + h[3])
}

impl Lanes for Portable {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0.0f32; WIDTH];
        for (x, y) in a.chunks_exact(WIDTH).zip(b.chunks_exact(WIDTH)) {
            for k in 0..WIDTH {
                lanes[k] += x[k] * y[k];
            }
        }
        fold(lanes)
    }

    #[inline(always)]
    fn axpy(self, c: f32, y: &[f32], acc: &mut [f32]) {
        for (o, v) in acc.iter_mut().zip(y) {
            *o += c * v;
        }
    }

    #[inline(always)]
    fn combine<'a>(self, c: &[f32], rows: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
        out.fill(0.0);
        for (j, &cj) in c.iter().enumerate() {
            self.axpy(cj, rows(j), out);
        }
    }
}

/// The fastest products of this CPU.
#[derive(Debug, Clone, Copy)]
pub(super) enum Best {
    Portable(Portable),
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
}

impl Best {
    pub(super) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(l) = avx2() {
                return Best::Avx2(l);
            }
        }
        Best::Portable(Portable)
    }
}

/// AVX2 with FMA; only made by [`avx2`] after checking the CPU.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx2(());

/// The AVX2 products when this CPU has them.
#[cfg(target_arch = "x86_64")]
pub(super) fn avx2() -> Option<Avx2> {
    (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
        .then_some(Avx2(()))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PAD, WIDTH};

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        assert!(a.len() == b.len() && a.len().is_multiple_of(PAD));
        let mut s = _mm256_setzero_ps();
        for k in (0..a.len()).step_by(WIDTH) {
            // SAFETY: k + WIDTH ≤ len for both slices (asserted above).
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(a.as_ptr().add(k)),
                    _mm256_loadu_ps(b.as_ptr().add(k)),
                )
            };
            s = _mm256_fmadd_ps(x, y, s);
        }
        let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let q = _mm_add_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)))
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn axpy(c: f32, y: &[f32], acc: &mut [f32]) {
        assert!(y.len() == acc.len() && y.len().is_multiple_of(PAD));
        let c = _mm256_set1_ps(c);
        for k in (0..y.len()).step_by(WIDTH) {
            // SAFETY: k + WIDTH ≤ len for both slices (asserted above).
            unsafe {
                let o = acc.as_mut_ptr().add(k);
                let v = _mm256_loadu_ps(y.as_ptr().add(k));
                _mm256_storeu_ps(o, _mm256_fmadd_ps(c, v, _mm256_loadu_ps(o)));
            }
        }
    }

    /// Σⱼ cⱼ·rows(j) by blocks of `V` vectors held in registers.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) fn combine<'a, const V: usize>(
        c: &[f32],
        rows: &impl Fn(usize) -> &'a [f32],
        out: &mut [f32],
        from: usize,
    ) {
        let mut acc = [_mm256_setzero_ps(); V];
        for (j, &cj) in c.iter().enumerate() {
            let (cj, row) = (_mm256_set1_ps(cj), rows(j));
            assert!(row.len() >= from + V * WIDTH);
            for (v, a) in acc.iter_mut().enumerate() {
                // SAFETY: from + (v + 1)·WIDTH ≤ row.len() (asserted above).
                let y = unsafe { _mm256_loadu_ps(row.as_ptr().add(from + v * WIDTH)) };
                *a = _mm256_fmadd_ps(cj, y, *a);
            }
        }
        for (o, a) in out[from..from + V * WIDTH].chunks_exact_mut(WIDTH).zip(acc) {
            // SAFETY: the chunk holds WIDTH floats.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: an `Avx2` exists only on a CPU with AVX2 and FMA.
        unsafe { x86::dot(a, b) }
    }

    #[inline(always)]
    fn axpy(self, c: f32, y: &[f32], acc: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { x86::axpy(c, y, acc) }
    }

    #[inline(always)]
    fn combine<'a>(self, c: &[f32], rows: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
        // Four vectors of sums at a time, then two (out is whole PADs).
        let mut from = 0;
        // SAFETY: as in `dot`; each block lies within out.
        unsafe {
            while from + 4 * WIDTH <= out.len() {
                x86::combine::<4>(c, &rows, out, from);
                from += 4 * WIDTH;
            }
            if from < out.len() {
                x86::combine::<2>(c, &rows, out, from);
            }
        }
    }
}
