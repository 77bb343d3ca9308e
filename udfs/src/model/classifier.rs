//! A fitted binary classifier as the applying functions use it: how to
//! encode the features (as k-means does: NULL numbers → training mean,
//! z-scored; text and booleans one-hot), the coefficients, and which label
//! value is the positive class.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use serde::{Deserialize, Serialize};

use super::logistic::sigmoid;
use super::{Feature, dims, encode};

/// A logistic-regression model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// `name@version`, for messages.
    pub label: String,
    /// Input columns, in call order (the label is not one).
    pub features: Vec<Feature>,
    /// The label column at training.
    pub label_column: String,
    /// The label values as text (the label cast to text): [negative, positive].
    pub classes: [String; 2],
    /// Intercept as fitted (with the class weights).
    pub intercept: f64,
    /// One per encoded dimension.
    pub coefficients: Vec<f64>,
    /// Added to the logit when predicting: −ln(w₁/w₀) undoes the class
    /// weights (prior correction), so probabilities estimate the true base
    /// rate; 0 without weights.
    pub offset: f64,
}

impl LogisticModel {
    /// Encoded dimensions.
    pub fn dims(&self) -> usize {
        dims(&self.features)
    }

    /// The calibrated probability of the positive class for each row of
    /// `columns` (one per feature). NaN or infinite numbers are errors
    /// naming the feature (`func` names the caller).
    pub fn probabilities(&self, func: &str, columns: &[ArrayRef], rows: usize) -> Result<Vec<f64>> {
        refuse_non_finite(func, &self.label, &self.features, columns)?;
        let d = self.dims();
        let mut encoded: Vec<f64> = Vec::with_capacity(rows * d);
        encode(&self.features, columns, rows, &mut encoded)?;
        let b = self.intercept + self.offset;
        Ok(encoded
            .chunks_exact(d.max(1))
            .take(rows)
            .map(|row| {
                let z: f64 = b + row
                    .iter()
                    .zip(&self.coefficients)
                    .map(|(x, w)| x * w)
                    .sum::<f64>();
                sigmoid(z)
            })
            .collect())
    }

    /// Whether each label is the positive class; NULL labels are `None`, a
    /// value that is neither class is an error naming the model.
    pub fn positives(&self, func: &str, labels: &ArrayRef) -> Result<Vec<Option<bool>>> {
        let text = match cast(labels, &DataType::Utf8) {
            Ok(text) => text,
            Err(e) => return exec_err!("{func}: label {}: {e}", self.label_column),
        };
        let text = text.as_string::<i32>();
        (0..text.len())
            .map(|i| {
                if text.is_null(i) {
                    return Ok(None);
                }
                let v = text.value(i);
                if v == self.classes[1] {
                    Ok(Some(true))
                } else if v == self.classes[0] {
                    Ok(Some(false))
                } else {
                    exec_err!(
                        "{func}: label {} is {v:?}, but model {} knows only {:?} (negative) and {:?} (positive)",
                        self.label_column,
                        self.label,
                        self.classes[0],
                        self.classes[1]
                    )
                }
            })
            .collect()
    }
}

/// The name of each encoded dimension: a numeric column's name, or
/// `column=value` for a one-hot category (`column=NULL` for NULL).
pub fn dimension_names(features: &[Feature]) -> Vec<String> {
    features
        .iter()
        .flat_map(|f| match f {
            Feature::Numeric { name, .. } => vec![name.clone()],
            Feature::Categorical { name, categories } => categories
                .iter()
                .map(|c| format!("{name}={}", c.as_deref().unwrap_or("NULL")))
                .collect(),
        })
        .collect()
}

/// NaN and ±infinity are broken values, not missing ones (that is NULL):
/// refused, naming the feature.
pub(crate) fn refuse_non_finite(
    func: &str,
    model: &str,
    features: &[Feature],
    columns: &[ArrayRef],
) -> Result<()> {
    match super::first_non_finite(features, columns)? {
        Some((feature, x)) => exec_err!(
            "{func}: feature {} of model {model} is {x}: only finite numbers (or NULL, read as the training mean) can be scored",
            feature.name()
        ),
        None => Ok(()),
    }
}
