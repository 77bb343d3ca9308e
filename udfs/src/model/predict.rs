//! `predict_proba(model, f1, …, fN)` and
//! `predict_label(model, f1, …, fN [, threshold])`: a classifier applied
//! row by row, bound to the fitted model by the engine's analyzer as
//! `cluster_assign` is.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature,
};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction, ModelSlot, check_model_features};

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The probability of the positive class under a classifier (CREATE MODEL … \
model_type 'logistic_reg' or 'boosted_tree_classifier'), features passed in training order (the \
label is not one) and encoded as at training: for logistic regression NULL numbers become the \
training mean and numbers are z-scored; for boosted trees numbers are taken raw and NULL follows \
each split's learned missing-value side; text and booleans are one-hot (a category unseen at \
training adds nothing). When the model was trained with class weights, the logit is shifted by \
−ln(w₁/w₀), so the probability estimates the true base rate. \
DESCRIBE MODEL names the positive class. A NaN or infinite feature is an error naming it.",
    syntax_example = "predict_proba('model[@version]', feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT customer_id, predict_proba('churn', recency_days, frequency, monetary) AS p
  FROM churn_labels(orders, customer_id, order_ts, amount, DATE '2026-07-01', INTERVAL '90 days');
```"#,
    argument(
        name = "model",
        description = "The classifier's name, optionally @version: a string literal or parameter."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct ProbaDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "Whether a classifier predicts the positive class for the row: \
predict_proba(…) ≥ threshold (default 0.5). The threshold, when given, follows the features.",
    syntax_example = "predict_label('model[@version]', feature1, …, featureN [, threshold])",
    sql_example = r#"```sql
> SELECT count(*) FILTER (WHERE predict_label('churn', recency_days, frequency, monetary, 0.3))
  FROM customer_features;
```"#,
    argument(
        name = "model",
        description = "The classifier's name, optionally @version: a string literal or parameter."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    ),
    argument(
        name = "threshold",
        description = "Probability from which a row is labelled positive, in [0, 1]; default 0.5."
    )
)]
#[derive(Debug)]
struct LabelDoc;

/// `predict_proba` or `predict_label`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Predict {
    name: &'static str,
    label: bool,
    /// The classifier argument 1 resolved to; none as registered.
    slot: ModelSlot,
}

impl Predict {
    /// `predict_proba`.
    pub fn proba() -> Self {
        Self::new("predict_proba", false)
    }

    /// `predict_label`.
    pub fn label() -> Self {
        Self::new("predict_label", true)
    }

    fn new(name: &'static str, label: bool) -> Self {
        Self {
            name,
            label,
            slot: ModelSlot::unbound(),
        }
    }

    fn output_type(&self) -> DataType {
        if self.label {
            DataType::Boolean
        } else {
            DataType::Float64
        }
    }

    /// Feature arguments given `args` arguments in all: a trailing
    /// threshold of `predict_label` is the one argument past the features.
    fn features_of(&self, args: usize, features: usize) -> Result<usize> {
        let given = args.saturating_sub(1);
        if given == features || (self.label && given == features + 1) {
            Ok(features)
        } else {
            plan_err!(
                "{}: the model has {features} features, got {given} arguments after the model{}",
                self.name,
                if self.label {
                    format!(
                        " (the features, then optionally the threshold: {features} or {})",
                        features + 1
                    )
                } else {
                    String::new()
                }
            )
        }
    }
}

impl ModelFunction for Predict {
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
            name: self.name,
            label: self.label,
            slot: self.slot.bind_classifier(self.name, models)?,
        })
    }
}

impl ScalarUDFImpl for Predict {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.slot.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 2 {
            return plan_err!(
                "{}: expected the model and at least one feature, got {} arguments",
                self.name,
                arg_types.len()
            );
        }
        let mut types = arg_types.to_vec();
        types[0] = DataType::Utf8;
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.output_type())
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::bound::call_name(self.name, args))
    }

    /// Once bound, checks the features (and a threshold) against the model.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(bound) = &self.slot.model {
            let model = bound.classifier(self.name)?;
            let n = self.features_of(args.arg_fields.len(), model.features().len())?;
            check_model_features(
                self.name,
                model.label(),
                model.features(),
                &args.arg_fields[1..=n],
                1,
            )?;
            if let Some(threshold) = args.arg_fields.get(n + 1)
                && !(threshold.data_type().is_numeric() || threshold.data_type().is_null())
            {
                return plan_err!(
                    "{}: argument {} (threshold) is {}, not a number",
                    self.name,
                    n + 2,
                    threshold.data_type()
                );
            }
        }
        Ok(Arc::new(Field::new(self.name, self.output_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let model = self.slot.model(self.name)?.classifier(self.name)?;
        let rows = args.number_rows;
        let n = self.features_of(args.args.len(), model.features().len())?;
        let columns: Vec<ArrayRef> = args.args[1..=n]
            .iter()
            .map(|c| c.to_array(rows))
            .collect::<Result<_>>()?;
        let p = model.probabilities(self.name, &columns, rows)?;
        if !self.label {
            return Ok(ColumnarValue::Array(Arc::new(Float64Array::from(p))));
        }
        let thresholds: Option<ArrayRef> = match args.args.get(n + 1) {
            Some(t) => Some(cast(&t.to_array(rows)?, &DataType::Float64)?),
            None => None,
        };
        let thresholds = thresholds.as_ref().map(|t| t.as_primitive::<Float64Type>());
        let mut out = Vec::with_capacity(rows);
        for (i, p) in p.into_iter().enumerate() {
            let t = match thresholds {
                None => 0.5,
                Some(t) if t.is_null(i) => {
                    out.push(None);
                    continue;
                }
                Some(t) => t.value(i),
            };
            if !(0.0..=1.0).contains(&t) {
                return exec_err!(
                    "{}: argument {} (threshold) is {t}: it must be in [0, 1]",
                    self.name,
                    n + 2
                );
            }
            out.push(Some(p >= t));
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        if self.label {
            LabelDoc.doc()
        } else {
            ProbaDoc.doc()
        }
    }
}
