//! A boosted-tree classifier as the applying functions use it: numbers
//! raw, NULL kept missing (each split learned where missing values go),
//! text and booleans one-hot as for logistic regression; the logit is the
//! ensemble's margin plus the class-weight offset, and contributions are
//! TreeSHAP values (a category's dimensions summed).

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use serde::{Deserialize, Serialize};

use super::classifier::{Classifier, by_column, refuse_non_finite};
use super::gbdt::{Ensemble, shap};
use super::{Feature, dims, encode};

/// A gradient-boosted tree classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostedModel {
    /// `name@version`, for messages.
    pub label: String,
    /// Input columns, in call order (the label is not one).
    pub features: Vec<Feature>,
    /// The label column at training.
    pub label_column: String,
    /// The label values as text: [negative, positive].
    pub classes: [String; 2],
    /// The trees, on the encoded dimensions.
    pub ensemble: Ensemble,
    /// Added to the margin: −ln(w₁/w₀) undoes class weights.
    pub offset: f64,
}

impl BoostedModel {
    /// The expected logit over the training rows: with every column's
    /// contribution it adds up to a row's logit.
    pub fn expected_value(&self) -> f64 {
        shap::expected_value(&self.ensemble) + self.offset
    }

    fn encoded(&self, func: &str, columns: &[ArrayRef], rows: usize) -> Result<Vec<f64>> {
        refuse_non_finite(func, &self.label, &self.features, columns)?;
        let mut out = Vec::with_capacity(rows * dims(&self.features));
        encode_missing(&self.features, columns, rows, &mut out)?;
        Ok(out)
    }
}

/// [`encode`] with numbers raw in f64 and NULL numbers NaN (missing), as
/// the trees were trained: a tree needs neither a mean nor a scale, nor
/// the f32 rounding of the distance kernels.
pub fn encode_missing(
    features: &[Feature],
    columns: &[ArrayRef],
    rows: usize,
    out: &mut Vec<f64>,
) -> Result<()> {
    let start = out.len();
    encode(features, columns, rows, out)?;
    let d = dims(features);
    let mut offset = 0;
    for (feature, column) in features.iter().zip(columns) {
        if let Feature::Numeric { name, .. } = feature {
            let values = match cast(column, &DataType::Float64) {
                Ok(values) => values,
                Err(e) => return exec_err!("feature {name}: {e}"),
            };
            let values = values.as_primitive::<Float64Type>();
            for row in 0..rows {
                out[start + row * d + offset] = if values.is_null(row) {
                    f64::NAN
                } else {
                    values.value(row)
                };
            }
        }
        offset += feature.dims();
    }
    Ok(())
}

impl Classifier for BoostedModel {
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
        let d = dims(&self.features);
        Ok(self
            .encoded(func, columns, rows)?
            .chunks_exact(d.max(1))
            .take(rows)
            .map(|row| self.ensemble.margin(row) + self.offset)
            .collect())
    }

    fn explain(
        &self,
        func: &str,
        columns: &[ArrayRef],
        rows: usize,
    ) -> Result<Vec<Vec<(String, f64)>>> {
        let d = dims(&self.features);
        let mut phi = vec![0.0; d];
        Ok(self
            .encoded(func, columns, rows)?
            .chunks_exact(d.max(1))
            .take(rows)
            .map(|row| {
                phi.fill(0.0);
                shap::contributions(&self.ensemble, row, &mut phi);
                by_column(&self.features, row, &phi)
            })
            .collect())
    }
}
