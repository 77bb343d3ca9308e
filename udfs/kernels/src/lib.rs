//! microseg's numeric kernels: pure Rust, no DataFusion, no I/O. The SQL
//! functions in `microseg-udfs` and the engine's training drive them; they
//! build, test and bench on their own in seconds.

pub mod classification;
pub mod clv;
pub mod exact;
pub mod gbdt;
pub mod kmeans;
pub mod linear;
pub mod linkage;
pub mod logistic;
pub mod metrics;
pub mod nearest;
pub mod optimize;
pub mod recommend;
pub mod sort;
pub mod text;
pub mod uplift;

/// Hints the CPU to fetch `p`'s cache line: loops over rows that each touch
/// a far-apart record issue it some rows ahead, which the out-of-order
/// window alone does not reach.
#[cfg(target_arch = "x86_64")]
// A prefetch reads nothing through the pointer (any address is fine).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn prefetch(p: *const i8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p) }
}

/// Hints the CPU to fetch `p`'s cache line (a no-op on this target).
#[cfg(not(target_arch = "x86_64"))]
pub fn prefetch(_: *const i8) {}
