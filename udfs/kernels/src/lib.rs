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
pub mod text;
pub mod uplift;
