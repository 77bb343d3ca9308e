//! An uplift model as the applying functions use it, and
//! `predict_uplift(model, f1, …, fN)`: the estimated effect of the
//! treatment on the probability of the positive label for each row.
//!
//! T-learner: one classifier per arm, uplift = p₁(x) − p₀(x). X-learner
//! (Künzel et al. 2019): besides, one regression per arm of the imputed
//! effects (treated: y − p₀(x); control: p₁(x) − y), combined as
//! g·τ₀(x) + (1 − g)·τ₁(x) with g the treated share of the training rows
//! (constant: the treatment was randomised). Parts are linear (logistic
//! regression and ridge, features encoded as k-means does) or trees
//! (numbers raw, NULL missing), as the base model says.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature,
};
use datafusion_macros::user_doc;
use serde::{Deserialize, Serialize};

use super::boosted::encode_missing;
use super::bound::{Bound, ModelFunction, ModelSlot, check_model_features};
use super::classifier::{refuse_non_finite, two_values};
use super::gbdt::Ensemble;
use super::logistic::sigmoid;
use super::{Feature, dims, encode};

/// One fitted part: its raw value is a logit (the arms' classifiers) or
/// an effect (the X-learner's regressions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Part {
    /// b + x·w on standardized features.
    Linear {
        /// b.
        intercept: f64,
        /// w, one per encoded dimension.
        coefficients: Vec<f64>,
    },
    /// An ensemble's margin on raw features.
    Trees(Ensemble),
}

impl Part {
    /// The raw value of one encoded row.
    pub fn value(&self, row: &[f64]) -> f64 {
        match self {
            Part::Linear {
                intercept,
                coefficients,
            } => {
                intercept
                    + row
                        .iter()
                        .zip(coefficients)
                        .map(|(x, w)| x * w)
                        .sum::<f64>()
            }
            Part::Trees(ensemble) => ensemble.margin(row),
        }
    }
}

/// The X-learner's second stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effects {
    /// τ₀, fitted on the control rows.
    pub control: Part,
    /// τ₁, fitted on the treated rows.
    pub treated: Part,
    /// g, the treated share of the training rows.
    pub propensity: f64,
}

/// A fitted uplift model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftModel {
    /// `name@version`, for messages.
    pub label: String,
    /// Input columns, in call order (neither label nor treatment is one).
    pub features: Vec<Feature>,
    /// The label column at training.
    pub label_column: String,
    /// The label values as text: [negative, positive].
    pub classes: [String; 2],
    /// The treatment column at training.
    pub treatment_column: String,
    /// Its values as text: [control, treated].
    pub arms: [String; 2],
    /// p₀: the control arm's classifier.
    pub control: Part,
    /// p₁: the treated arm's classifier.
    pub treated: Part,
    /// Added to both arms' logits: −ln(w₁/w₀) undoes class weights.
    pub offset: f64,
    /// The X-learner's regressions; `None` for the T-learner.
    pub effects: Option<Effects>,
}

impl UpliftModel {
    /// Whether the parts are trees (features raw, NULL missing).
    fn trees(&self) -> bool {
        matches!(self.control, Part::Trees(_))
    }

    /// Each row's estimated uplift: the change in the probability of the
    /// positive label the treatment causes.
    pub fn uplift(&self, func: &str, columns: &[ArrayRef], rows: usize) -> Result<Vec<f64>> {
        refuse_non_finite(func, &self.label, &self.features, columns)?;
        let d = dims(&self.features);
        let mut encoded: Vec<f64> = Vec::with_capacity(rows * d);
        if self.trees() {
            encode_missing(&self.features, columns, rows, &mut encoded)?;
        } else {
            encode(&self.features, columns, rows, &mut encoded)?;
        }
        Ok(encoded
            .chunks_exact(d.max(1))
            .take(rows)
            .map(|row| self.uplift_row(row))
            .collect())
    }

    /// The uplift of one encoded row.
    pub fn uplift_row(&self, row: &[f64]) -> f64 {
        match &self.effects {
            None => {
                sigmoid(self.treated.value(row) + self.offset)
                    - sigmoid(self.control.value(row) + self.offset)
            }
            Some(e) => {
                e.propensity * e.control.value(row) + (1.0 - e.propensity) * e.treated.value(row)
            }
        }
    }

    /// Whether each label is the positive class (NULL `None`).
    pub fn positives(&self, func: &str, labels: &ArrayRef) -> Result<Vec<Option<bool>>> {
        let what = format!("label {}", self.label_column);
        two_values(func, &what, &self.label, &self.classes, labels)
    }

    /// Whether each row was treated (NULL `None`).
    pub fn treated_rows(&self, func: &str, treatment: &ArrayRef) -> Result<Vec<Option<bool>>> {
        let what = format!("treatment {}", self.treatment_column);
        two_values(func, &what, &self.label, &self.arms, treatment)
    }
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The estimated uplift of an uplift model (CREATE MODEL … model_type 'uplift'): \
how much the treatment raises the probability of the positive label for this row, in [−1, 1] \
for the T-learner (p₁(x) − p₀(x), each arm's calibrated classifier) and a regression estimate for \
the X-learner (g·τ₀(x) + (1 − g)·τ₁(x)). Features in training order (the label and the treatment \
column are not features), encoded as the base model encodes them. Negative values are the \
customers the treatment puts off (\"sleeping dogs\").",
    syntax_example = "predict_uplift('model[@version]', feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT customer_id, predict_uplift('promo', recency_days, frequency, monetary) AS uplift
  FROM customer_features ORDER BY uplift DESC LIMIT 100;
```"#,
    argument(
        name = "model",
        description = "The uplift model's name, optionally @version: a string literal or parameter."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PredictUplift {
    /// The model argument 1 resolved to; none as registered.
    slot: ModelSlot,
}

/// The SQL name.
const NAME: &str = "predict_uplift";

impl PredictUplift {
    /// As registered, unbound.
    pub fn new() -> Self {
        Self {
            slot: ModelSlot::unbound(),
        }
    }
}

impl Default for PredictUplift {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelFunction for PredictUplift {
    fn models(&self) -> Vec<Bound> {
        self.slot.model.iter().cloned().collect()
    }

    fn model_arguments(&self) -> usize {
        1
    }

    fn is_bound(&self) -> bool {
        self.slot.model.is_some()
    }

    fn bind(&self, models: Vec<Bound>) -> Result<Self> {
        Ok(Self {
            slot: self.slot.bind_uplift(NAME, models)?,
        })
    }
}

impl ScalarUDFImpl for PredictUplift {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.slot.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 {
            return plan_err!(
                "{NAME}: expected the model and at least one feature, got {} arguments",
                arg_types.len()
            );
        }
        let mut types = arg_types.to_vec();
        types[0] = DataType::Utf8;
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::bound::call_name(NAME, args))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(bound) = &self.slot.model {
            let model = bound.uplift(NAME)?;
            check_model_features(
                NAME,
                &model.label,
                &model.features,
                &args.arg_fields[1..],
                1,
            )?;
        }
        Ok(Arc::new(Field::new(NAME, DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let model = self.slot.model(NAME)?.uplift(NAME)?;
        let rows = args.number_rows;
        let columns: Vec<ArrayRef> = args.args[1..]
            .iter()
            .map(|c| c.to_array(rows))
            .collect::<Result<_>>()?;
        let uplift = model.uplift(NAME, &columns, rows)?;
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(uplift))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
