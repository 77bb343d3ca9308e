//! Segmentation models: k-means micro-clusters.
//!
//! Training is pure compute here ([`kmeans::fit`]); the engine feeds it rows
//! and stores the result in the lake. Applying a model (`cluster_assign`,
//! `cluster_distance`, `p_alive`, …) needs its parameters: the engine binds
//! each call to the fitted model ([`bound`]) when it plans, so the function
//! does no I/O and the plan carries the model to any worker.

pub mod apply;
pub mod boosted;
pub mod bound;
pub mod classifier;
pub mod clv_apply;
pub mod clv_periods;
pub mod evaluate;
pub mod explain;
pub mod predict;
pub mod rank_scores;
pub mod recommender;
pub mod uplift;
pub mod uplift_scores;

// The numeric kernels live in their own crate without DataFusion, so they
// build and bench in seconds; their module paths stay those of this one.
pub use microseg_kernels::{
    classification, clv, exact, gbdt, kmeans, linear, linkage, logistic, metrics, nearest,
    optimize, recommend,
};
pub mod mean;
pub mod quality;
/// The uplift metrics kernel (`uplift` is the model).
pub use microseg_kernels::uplift as uplift_metrics;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use serde::{Deserialize, Serialize};

pub use nearest::Scale;
use nearest::{Layout, PANEL};

pub use apply::ClusterAssign;
pub use boosted::BoostedModel;
pub use bound::{Bound, Fitted, ModelFunction};
pub use classifier::{Classifier, LogisticModel};
pub use evaluate::ClassifierScores;
pub use explain::ExplainPredict;
pub use mean::ModelMean;
pub use predict::Predict;
pub use quality::ModelQuality;
pub use recommender::RecommenderModel;
pub use uplift::{PredictUplift, UpliftModel};
pub use uplift_scores::UpliftReport;

/// How one input column becomes model dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Feature {
    /// One dimension: NULL becomes the training mean, then (if
    /// `standardize`) z = (x − mean) · (1/std), see [`Scale`].
    Numeric {
        /// Column name at training.
        name: String,
        /// Training mean.
        mean: f64,
        /// Training population standard deviation (1 when it was 0).
        std: f64,
        /// Whether values are z-scored.
        standardize: bool,
    },
    /// One 0/1 dimension per category seen at training; NULL is a category
    /// of its own; a category unseen at training sets no dimension.
    Categorical {
        /// Column name at training.
        name: String,
        /// Categories in dimension order (`None` is NULL).
        categories: Vec<Option<String>>,
    },
}

impl Feature {
    /// The column name.
    pub fn name(&self) -> &str {
        match self {
            Feature::Numeric { name, .. } | Feature::Categorical { name, .. } => name,
        }
    }

    /// Dimensions this feature contributes.
    pub fn dims(&self) -> usize {
        match self {
            Feature::Numeric { .. } => 1,
            Feature::Categorical { categories, .. } => categories.len(),
        }
    }

    /// How a numeric feature's values become its coordinate (`None` for
    /// a categorical one).
    pub fn scale(&self) -> Option<Scale> {
        match self {
            Feature::Numeric {
                mean,
                std,
                standardize,
                ..
            } => Some(Scale::of(*mean, *std, *standardize)),
            Feature::Categorical { .. } => None,
        }
    }

    /// Whether a column of `data_type` can feed this feature.
    pub fn accepts(&self, data_type: &DataType) -> bool {
        match self {
            Feature::Numeric { .. } => data_type.is_numeric() || data_type.is_null(),
            Feature::Categorical { .. } => is_categorical(data_type) || data_type.is_null(),
        }
    }

    /// Human-readable description for DESCRIBE MODEL.
    pub fn describe(&self) -> String {
        match self {
            Feature::Numeric {
                mean,
                std,
                standardize,
                ..
            } => format!(
                "numeric: mean {mean:.6}, std {std:.6}{}",
                if *standardize { ", standardized" } else { "" }
            ),
            Feature::Categorical { categories, .. } => format!(
                "categorical: {}",
                categories
                    .iter()
                    .map(|c| c.as_deref().unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Text and booleans are one-hot encoded.
pub fn is_categorical(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => true,
        DataType::Dictionary(_, value) => is_categorical(value),
        _ => false,
    }
}

/// A trained k-means model: how to encode rows, and the centroids in the
/// encoded space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansModel {
    /// `name@version`, for messages.
    pub label: String,
    /// Input columns, in call order.
    pub features: Vec<Feature>,
    /// Number of clusters.
    pub k: usize,
    /// Row-major k × dims centroids.
    pub centroids: Vec<f64>,
    /// Training rows per cluster.
    #[serde(default)]
    pub sizes: Vec<u64>,
}

impl KMeansModel {
    /// Encoded dimensions.
    pub fn dims(&self) -> usize {
        dims(&self.features)
    }
}

/// Encoded dimensions of `features`.
pub fn dims(features: &[Feature]) -> usize {
    features.iter().map(Feature::dims).sum()
}

/// Encodes `columns` (one per feature, `rows` long) into row-major
/// dimensions, appending to `out`.
pub fn encode<T: From<f32> + Copy>(
    features: &[Feature],
    columns: &[ArrayRef],
    rows: usize,
    out: &mut Vec<T>,
) -> Result<()> {
    let start = out.len();
    out.resize(start + rows * dims(features), T::from(0.0));
    encode_into(features, columns, rows, Layout::Rows, &mut out[start..])
}

/// Encodes `columns` (one per feature, `rows` long) into `out`, laid out
/// as `layout` says; `out` holds zeros and [`Layout::len`] values.
pub fn encode_into<T: From<f32> + Copy>(
    features: &[Feature],
    columns: &[ArrayRef],
    rows: usize,
    layout: Layout,
    out: &mut [T],
) -> Result<()> {
    let d = dims(features);
    let mut offset = 0;
    for (feature, column) in features.iter().zip(columns) {
        match feature {
            Feature::Numeric {
                mean,
                std,
                standardize,
                name,
            } => {
                let values = match cast(column, &DataType::Float64) {
                    Ok(values) => values,
                    Err(e) => return exec_err!("feature {name}: {e}"),
                };
                let values = values.as_primitive::<Float64Type>();
                let scale = Scale::of(*mean, *std, *standardize);
                let z = |x: f64| T::from(scale.apply(x));
                match (values.null_count(), layout) {
                    // Sixteen rows of a column are one contiguous run of a
                    // panel: a plain loop the compiler vectorizes.
                    (0, Layout::Panels) => {
                        for (p, chunk) in values.values()[..rows].chunks(PANEL).enumerate() {
                            let start = p * PANEL * d + offset * PANEL;
                            for (o, &x) in out[start..start + chunk.len()].iter_mut().zip(chunk) {
                                *o = z(x);
                            }
                        }
                    }
                    (0, Layout::Rows) => {
                        for (o, &x) in out.chunks_exact_mut(d).zip(&values.values()[..rows]) {
                            o[offset] = z(x);
                        }
                    }
                    _ => {
                        for row in 0..rows {
                            let x = if values.is_null(row) {
                                *mean
                            } else {
                                values.value(row)
                            };
                            out[layout.place(row, offset, d)] = z(x);
                        }
                    }
                }
            }
            Feature::Categorical { categories, name } => {
                let text = match cast(column, &DataType::Utf8) {
                    Ok(text) => text,
                    Err(e) => return exec_err!("feature {name}: {e}"),
                };
                let text = text.as_string::<i32>();
                let index: std::collections::HashMap<Option<&str>, usize> = categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_deref(), i))
                    .collect();
                for row in 0..rows {
                    let value = (!text.is_null(row)).then(|| text.value(row));
                    if let Some(&i) = index.get(&value) {
                        out[layout.place(row, offset + i, d)] = T::from(1.0);
                    }
                }
            }
        }
        offset += feature.dims();
    }
    Ok(())
}

/// The first numeric feature value that is NaN or ±infinity (only
/// floating-point columns can hold one), with its feature: a broken value,
/// not a missing one (that is NULL), which the applying functions refuse.
pub(crate) fn first_non_finite<'a>(
    features: &'a [Feature],
    columns: &[ArrayRef],
) -> Result<Option<(&'a Feature, f64)>> {
    for (feature, column) in features.iter().zip(columns) {
        if feature.scale().is_none() || !column.data_type().is_floating() {
            continue;
        }
        let values = match cast(column, &DataType::Float64) {
            Ok(values) => values,
            Err(e) => return exec_err!("feature {}: {e}", feature.name()),
        };
        let values = values.as_primitive::<Float64Type>();
        if let Some((_, x)) = values
            .values()
            .iter()
            .enumerate()
            .find(|&(i, x)| !x.is_finite() && values.is_valid(i))
        {
            return Ok(Some((feature, *x)));
        }
    }
    Ok(None)
}

/// The model functions.
pub fn scalar_functions() -> Vec<Arc<datafusion::logical_expr::ScalarUDF>> {
    vec![
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            ClusterAssign::assign(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            ClusterAssign::distance(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            ClusterAssign::to_point(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            clv_apply::ClvFunction::p_alive(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            clv_apply::ClvFunction::expected_purchases(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            clv_apply::ClvFunction::expected_avg_spend(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            clv_apply::ClvFunction::clv(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            Predict::proba(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            Predict::label(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            ExplainPredict::new(),
        )),
        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
            PredictUplift::new(),
        )),
    ]
}

/// The model aggregates: `model_mean`, `model_quality`.
pub fn aggregate_functions() -> Vec<Arc<datafusion::logical_expr::AggregateUDF>> {
    vec![
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            ModelMean::new(),
        )),
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            clv_periods::ClvPeriods::new(),
        )),
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            ModelQuality::new(),
        )),
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            ClassifierScores::metrics(),
        )),
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            ClassifierScores::roc(),
        )),
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            ClassifierScores::gains(),
        )),
        Arc::new(datafusion::logical_expr::AggregateUDF::new_from_impl(
            UpliftReport::new(),
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    #[test]
    fn encodes_numeric_and_one_hot() {
        let features = vec![
            Feature::Numeric {
                name: "x".into(),
                mean: 10.0,
                std: 2.0,
                standardize: true,
            },
            Feature::Categorical {
                name: "c".into(),
                categories: vec![Some("a".into()), Some("b".into()), None],
            },
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(12), None, Some(8)])),
            Arc::new(StringArray::from(vec![Some("b"), None, Some("zzz")])),
        ];
        let mut out: Vec<f64> = Vec::new();
        encode(&features, &columns, 3, &mut out).unwrap();
        // x: (12-10)/2 = 1, NULL -> mean -> 0, (8-10)/2 = -1;
        // c: b -> [0,1,0], NULL -> [0,0,1], unseen -> [0,0,0].
        assert_eq!(
            out,
            [
                1.0, 0.0, 1.0, 0.0, //
                0.0, 0.0, 0.0, 1.0, //
                -1.0, 0.0, 0.0, 0.0
            ]
        );
    }
}
