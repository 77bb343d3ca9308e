//! A fitted binary classifier as the applying functions use it
//! ([`Classifier`]: its features, label classes, logits and per-column
//! contributions), and logistic regression's: features encoded as k-means
//! does (NULL numbers → training mean, z-scored; text and booleans
//! one-hot) times the coefficients.

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

    /// The encoded rows and each row's calibrated logit.
    fn encoded_logits(
        &self,
        func: &str,
        columns: &[ArrayRef],
        rows: usize,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        refuse_non_finite(func, &self.label, &self.features, columns)?;
        let d = self.dims();
        let mut encoded: Vec<f64> = Vec::with_capacity(rows * d);
        encode(&self.features, columns, rows, &mut encoded)?;
        let b = self.intercept + self.offset;
        let logits = encoded
            .chunks_exact(d.max(1))
            .take(rows)
            .map(|row| {
                b + row
                    .iter()
                    .zip(&self.coefficients)
                    .map(|(x, w)| x * w)
                    .sum::<f64>()
            })
            .collect();
        Ok((encoded, logits))
    }
}

impl Classifier for LogisticModel {
    fn label(&self) -> &str {
        &self.label
    }

    fn features(&self) -> &[Feature] {
        &self.features
    }

    fn label_column(&self) -> &str {
        &self.label_column
    }

    fn classes(&self) -> &[String; 2] {
        &self.classes
    }

    fn logits(&self, func: &str, columns: &[ArrayRef], rows: usize) -> Result<Vec<f64>> {
        Ok(self.encoded_logits(func, columns, rows)?.1)
    }

    /// Coefficient × standardized value, per dimension.
    fn explain(
        &self,
        func: &str,
        columns: &[ArrayRef],
        rows: usize,
    ) -> Result<Vec<Vec<(String, f64)>>> {
        let (encoded, _) = self.encoded_logits(func, columns, rows)?;
        let d = self.dims();
        let mut phi = vec![0.0; d];
        Ok(encoded
            .chunks_exact(d.max(1))
            .take(rows)
            .map(|row| {
                for ((p, x), w) in phi.iter_mut().zip(row).zip(&self.coefficients) {
                    *p = x * w;
                }
                by_column(&self.features, row, &phi)
            })
            .collect())
    }
}

/// A fitted binary classifier, whatever its kind.
pub trait Classifier: std::fmt::Debug + Send + Sync {
    /// `name@version`, for messages.
    fn label(&self) -> &str;

    /// Input columns, in call order (the label is not one).
    fn features(&self) -> &[Feature];

    /// The label column at training.
    fn label_column(&self) -> &str;

    /// The label values as text: [negative, positive].
    fn classes(&self) -> &[String; 2];

    /// Each row's calibrated log-odds of the positive class. NaN or
    /// infinite numbers are errors naming the feature (`func` names the
    /// caller).
    fn logits(&self, func: &str, columns: &[ArrayRef], rows: usize) -> Result<Vec<f64>>;

    /// Per row, per input column (training order): its name (`column=value`
    /// for a category) and what it adds to the logit.
    fn explain(
        &self,
        func: &str,
        columns: &[ArrayRef],
        rows: usize,
    ) -> Result<Vec<Vec<(String, f64)>>>;

    /// The calibrated probability of the positive class for each row.
    fn probabilities(&self, func: &str, columns: &[ArrayRef], rows: usize) -> Result<Vec<f64>> {
        Ok(self
            .logits(func, columns, rows)?
            .into_iter()
            .map(sigmoid)
            .collect())
    }

    /// Whether each label is the positive class; NULL labels are `None`, a
    /// value that is neither class is an error naming the model.
    fn positives(&self, func: &str, labels: &ArrayRef) -> Result<Vec<Option<bool>>> {
        two_values(
            func,
            &format!("label {}", self.label_column()),
            self.label(),
            self.classes(),
            labels,
        )
    }
}

/// Whether each value of `column` (the label, a treatment) is the second
/// of `classes` ([other, wanted], as text); NULL is `None`, a value that
/// is neither is an error naming `what` and the model.
pub(crate) fn two_values(
    func: &str,
    what: &str,
    model: &str,
    classes: &[String; 2],
    column: &ArrayRef,
) -> Result<Vec<Option<bool>>> {
    let text = match cast(column, &DataType::Utf8) {
        Ok(text) => text,
        Err(e) => return exec_err!("{func}: {what}: {e}"),
    };
    let text = text.as_string::<i32>();
    (0..text.len())
        .map(|i| {
            if text.is_null(i) {
                return Ok(None);
            }
            let v = text.value(i);
            if v == classes[1] {
                Ok(Some(true))
            } else if v == classes[0] {
                Ok(Some(false))
            } else {
                exec_err!(
                    "{func}: {what} is {v:?}, but model {model} knows only {:?} and {:?}",
                    classes[0],
                    classes[1]
                )
            }
        })
        .collect()
}

/// Per input column: its name and the sum of its dimensions' `phi` (one
/// per encoded dimension of `row`). A category is named `column=value`
/// after the row's category (`(unseen)` for none seen at training).
pub(crate) fn by_column(features: &[Feature], row: &[f64], phi: &[f64]) -> Vec<(String, f64)> {
    let mut offset = 0;
    let mut out = Vec::with_capacity(features.len());
    for feature in features {
        let range = offset..offset + feature.dims();
        let total: f64 = phi[range.clone()].iter().sum();
        match feature {
            Feature::Numeric { name, .. } => out.push((name.clone(), total)),
            Feature::Categorical { name, categories } => {
                let hit = row[range].iter().position(|v| *v != 0.0);
                let value = hit.map_or("(unseen)", |i| categories[i].as_deref().unwrap_or("NULL"));
                out.push((format!("{name}={value}"), total));
            }
        }
        offset += feature.dims();
    }
    out
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
