//! Experiments: stable assignment of customers to test groups, and reading
//! the result of an A/B test.
//!
//! - [`ab_bucket`](AbBucket): a key's bucket 0..n-1 from a salted SHA-256
//! - [`holdout`](Holdout): whether a key falls in the holdout fraction
//! - [`prop_test`](PropTest): two-proportion z-test with lift and a 95% interval
//!
//! Assignment is a pure function of (salt, key), so any other system can
//! recompute it from the documented definition (see [`unit_interval`]).

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

mod bucket;
mod normal;
mod prop_test;

pub use bucket::{AbBucket, Holdout, bucket_of, in_holdout, unit_interval};
pub use normal::{Z_975, erfc, normal_cdf};
pub use prop_test::{PropTest, PropTestResult, prop_test};

/// Scalar functions of this family.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(AbBucket::new())),
        Arc::new(ScalarUDF::new_from_impl(Holdout::new())),
        Arc::new(ScalarUDF::new_from_impl(PropTest::new())),
    ]
}
