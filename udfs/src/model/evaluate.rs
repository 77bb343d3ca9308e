//! Aggregates that score a classifier against labelled rows, for
//! `model_evaluate`, `model_roc` and `model_gains`:
//!
//! - `model_classification(model, threshold, label, f1, …, fN)` → struct of
//!   metrics (roc_auc, pr_auc, log_loss, brier, accuracy, precision,
//!   recall, f1 at the threshold);
//! - `model_roc_curve(model, label, f1, …)` → list of ROC points;
//! - `model_gains_table(model, label, f1, …)` → list of decile rows.
//!
//! Each keeps every row's calibrated probability and label (9 bytes a row,
//! counted in the memory pool through `size`): the metrics rank all rows.
//! The kernels are `microseg_kernels::classification`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{
    Result, ScalarValue, exec_err, internal_err, plan_datafusion_err, plan_err,
};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Documentation, Signature};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction, ModelSlot, check_model_features};
use super::classification::{binary_metrics, gains, roc_curve};

/// What the aggregate reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Metrics,
    Roc,
    Gains,
}

/// The metrics struct's fields, in order.
pub fn metrics_fields() -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        Field::new("rows", DataType::Int64, false),
        Field::new("positives", DataType::Int64, false),
        f("roc_auc"),
        f("pr_auc"),
        f("log_loss"),
        f("brier"),
        f("threshold"),
        f("accuracy"),
        f("precision"),
        f("recall"),
        f("f1"),
    ])
}

/// One ROC point's fields.
pub fn roc_fields() -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        f("threshold"),
        Field::new("true_positives", DataType::Int64, false),
        Field::new("false_positives", DataType::Int64, false),
        f("tpr"),
        f("fpr"),
        f("precision"),
    ])
}

/// One gains row's fields.
pub fn gains_fields() -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        Field::new("decile", DataType::Int32, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("positives", DataType::Int64, false),
        f("min_score"),
        f("max_score"),
        f("lift"),
        Field::new("cumulative_rows", DataType::Int64, false),
        f("cumulative_capture"),
        f("cumulative_lift"),
    ])
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "A classifier's metrics over the rows: a struct {rows, positives, roc_auc, \
pr_auc, log_loss, brier, threshold, accuracy, precision, recall, f1}, scikit-learn's definitions \
on the calibrated probabilities (predict_proba). roc_auc: area under the ROC curve, tied scores one \
step; pr_auc: average precision Σ (Rₖ − Rₖ₋₁)·Pₖ over distinct thresholds; log_loss: mean \
−[y ln p + (1−y) ln(1−p)], p clipped to [ε, 1−ε]; brier: mean (p − y)²; the rest at p ≥ threshold \
(precision 0 when nothing is predicted positive). Undefined metrics (no rows, one class) are NULL. \
A NULL label is an error. The model_evaluate() table function reports it.",
    syntax_example = "model_classification('model', threshold, label, feature1, …, featureN)",
    argument(
        name = "model",
        description = "A classifier's name (@version optional)."
    ),
    argument(name = "threshold", description = "A constant in [0, 1]."),
    argument(name = "label", description = "The true label, as at training."),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct MetricsDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "A classifier's ROC curve over the rows: a list of {threshold, true_positives, \
false_positives, tpr, fpr, precision}, one per distinct predicted probability, highest first \
(rows with p ≥ threshold predicted positive). model_roc() unnests it.",
    syntax_example = "model_roc_curve('model', label, feature1, …, featureN)",
    argument(
        name = "model",
        description = "A classifier's name (@version optional)."
    ),
    argument(name = "label", description = "The true label, as at training."),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct RocDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "A classifier's gains table over the rows: a list of deciles by descending \
probability {decile, rows, positives, min_score, max_score, lift, cumulative_rows, \
cumulative_capture, cumulative_lift}; a row's decile is 1 + ⌊10·r/n⌋ with r the rows scoring \
strictly higher, so ties share a decile. lift = decile positive rate ÷ overall rate; \
cumulative_capture = share of all positives in deciles 1..d. model_gains() unnests it.",
    syntax_example = "model_gains_table('model', label, feature1, …, featureN)",
    argument(
        name = "model",
        description = "A classifier's name (@version optional)."
    ),
    argument(name = "label", description = "The true label, as at training."),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct GainsDoc;

/// One of the three classifier-scoring aggregates.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClassifierScores {
    name: &'static str,
    kind: Kind,
    slot: ModelSlot,
}

impl ClassifierScores {
    /// `model_classification`.
    pub fn metrics() -> Self {
        Self::new("model_classification", Kind::Metrics)
    }

    /// `model_roc_curve`.
    pub fn roc() -> Self {
        Self::new("model_roc_curve", Kind::Roc)
    }

    /// `model_gains_table`.
    pub fn gains() -> Self {
        Self::new("model_gains_table", Kind::Gains)
    }

    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            slot: ModelSlot::unbound(),
        }
    }

    /// Arguments before the features: model, [threshold,] label.
    fn leading(&self) -> usize {
        if self.kind == Kind::Metrics { 3 } else { 2 }
    }

    fn output_type(&self) -> DataType {
        match self.kind {
            Kind::Metrics => DataType::Struct(metrics_fields()),
            Kind::Roc => list_of(DataType::Struct(roc_fields())),
            Kind::Gains => list_of(DataType::Struct(gains_fields())),
        }
    }
}

impl ModelFunction for ClassifierScores {
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
            kind: self.kind,
            slot: self.slot.bind_classifier(self.name, models)?,
        })
    }
}

impl AggregateUDFImpl for ClassifierScores {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.slot.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() <= self.leading() {
            return plan_err!(
                "{}: expected the model, {}the label and the features, got {} arguments",
                self.name,
                if self.kind == Kind::Metrics {
                    "the threshold, "
                } else {
                    ""
                },
                arg_types.len()
            );
        }
        let mut types = arg_types.to_vec();
        types[0] = DataType::Utf8;
        if self.kind == Kind::Metrics {
            types[1] = DataType::Float64;
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.output_type())
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if let Some(bound) = &self.slot.model {
            let model = bound.classifier(self.name)?;
            check_model_features(
                self.name,
                model.label(),
                model.features(),
                arg_fields.get(self.leading()..).unwrap_or_default(),
                self.leading(),
            )?;
        }
        Ok(Arc::new(Field::new(self.name, self.output_type(), true)))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ScoresAccumulator {
            name: self.name,
            kind: self.kind,
            model: self.slot.model(self.name)?.clone(),
            threshold: None,
            scores: Vec::new(),
            labels: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |what: &str, t: DataType| -> FieldRef {
            Field::new(format!("{}[{what}]", args.name), t, true).into()
        };
        Ok(vec![
            field("threshold", DataType::Float64),
            field("scores", list_of(DataType::Float64)),
            field("labels", list_of(DataType::Boolean)),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        match self.kind {
            Kind::Metrics => MetricsDoc.doc(),
            Kind::Roc => RocDoc.doc(),
            Kind::Gains => GainsDoc.doc(),
        }
    }
}

#[derive(Debug)]
struct ScoresAccumulator {
    name: &'static str,
    kind: Kind,
    model: Bound,
    threshold: Option<f64>,
    scores: Vec<f64>,
    labels: Vec<bool>,
}

impl ScoresAccumulator {
    fn set_threshold(&mut self, t: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&t) {
            return exec_err!(
                "{}: argument 2 (threshold) is {t}: it must be in [0, 1]",
                self.name
            );
        }
        match self.threshold {
            Some(old) if old != t => {
                exec_err!("{}: argument 2 (threshold) must be a constant", self.name)
            }
            _ => {
                self.threshold = Some(t);
                Ok(())
            }
        }
    }
}

fn float(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Accumulator for ScoresAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let bound = self.model.clone();
        let model = bound.classifier(self.name)?;
        let lead = if self.kind == Kind::Metrics { 3 } else { 2 };
        let Some(columns) = values
            .get(lead..)
            .filter(|c| c.len() == model.features().len())
        else {
            return internal_err!(
                "{}: expected {} features",
                self.name,
                model.features().len()
            );
        };
        let rows = values[0].len();
        if rows == 0 {
            return Ok(());
        }
        if self.kind == Kind::Metrics {
            let t = cast(&values[1], &DataType::Float64)?;
            let t = t.as_primitive::<Float64Type>();
            if t.null_count() > 0 {
                return exec_err!("{}: argument 2 (threshold) is NULL", self.name);
            }
            for &v in t.values().iter() {
                self.set_threshold(v)?;
            }
        }
        let labels = model.positives(self.name, &values[lead - 1])?;
        if labels.iter().any(Option::is_none) {
            return exec_err!(
                "{}: label {} is NULL in a row: model {} can only be scored on labelled rows (filter the others out)",
                self.name,
                model.label_column(),
                model.label()
            );
        }
        let p = model.probabilities(self.name, columns, rows)?;
        self.scores.extend(p);
        self.labels
            .extend(labels.into_iter().map(|l| l == Some(true)));
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [threshold, scores, labels] = states else {
            return internal_err!("{}: expected 3 state columns", self.name);
        };
        let (Some(threshold), Some(scores), Some(labels)) = (
            threshold.as_primitive_opt::<Float64Type>(),
            scores.as_list_opt::<i32>(),
            labels.as_list_opt::<i32>(),
        ) else {
            return internal_err!("{}: unexpected state types", self.name);
        };
        for i in 0..scores.len() {
            if !threshold.is_null(i) {
                self.set_threshold(threshold.value(i))?;
            }
            if scores.is_null(i) {
                continue;
            }
            let s = scores.value(i);
            self.scores
                .extend(s.as_primitive::<Float64Type>().values().iter());
            let l = labels.value(i);
            self.labels.extend(l.as_boolean().values().iter());
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(self.threshold),
            SingleRowListArrayBuilder::new(Arc::new(Float64Array::from(self.scores.clone())))
                .build_list_scalar(),
            SingleRowListArrayBuilder::new(Arc::new(BooleanArray::from(self.labels.clone())))
                .build_list_scalar(),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let fail = |e: String| plan_datafusion_err!("{}: {e}", self.name);
        match self.kind {
            Kind::Metrics => {
                let threshold = self.threshold.unwrap_or(0.5);
                let n = self.scores.len();
                let m = (n > 0)
                    .then(|| binary_metrics(&self.scores, &self.labels, threshold))
                    .transpose()
                    .map_err(fail)?;
                let g = |f: fn(&super::classification::BinaryMetrics) -> f64| {
                    m.as_ref().and_then(|m| float(f(m)))
                };
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from(vec![n as i64])),
                    Arc::new(Int64Array::from(vec![
                        self.labels.iter().filter(|l| **l).count() as i64,
                    ])),
                    Arc::new(Float64Array::from(vec![g(|m| m.roc_auc)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.pr_auc)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.log_loss)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.brier)])),
                    Arc::new(Float64Array::from(vec![Some(threshold)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.accuracy)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.precision)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.recall)])),
                    Arc::new(Float64Array::from(vec![g(|m| m.f1)])),
                ];
                Ok(ScalarValue::Struct(Arc::new(StructArray::new(
                    metrics_fields(),
                    columns,
                    None,
                ))))
            }
            Kind::Roc => {
                let points = roc_curve(&self.scores, &self.labels).map_err(fail)?;
                let f = |g: fn(&super::classification::RocPoint) -> f64| -> ArrayRef {
                    Arc::new(Float64Array::from_iter(points.iter().map(|p| float(g(p)))))
                };
                let i = |g: fn(&super::classification::RocPoint) -> u64| -> ArrayRef {
                    Arc::new(Int64Array::from_iter_values(
                        points.iter().map(|p| g(p) as i64),
                    ))
                };
                let columns = vec![
                    f(|p| p.threshold),
                    i(|p| p.true_positives),
                    i(|p| p.false_positives),
                    f(|p| p.tpr),
                    f(|p| p.fpr),
                    f(|p| p.precision),
                ];
                let array = StructArray::new(roc_fields(), columns, None);
                Ok(SingleRowListArrayBuilder::new(Arc::new(array)).build_list_scalar())
            }
            Kind::Gains => {
                let rows = if self.scores.is_empty() {
                    Vec::new()
                } else {
                    gains(&self.scores, &self.labels).map_err(fail)?
                };
                let f = |g: fn(&super::classification::GainsRow) -> f64| -> ArrayRef {
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| float(g(r)))))
                };
                let i = |g: fn(&super::classification::GainsRow) -> u64| -> ArrayRef {
                    Arc::new(Int64Array::from_iter_values(
                        rows.iter().map(|r| g(r) as i64),
                    ))
                };
                let columns = vec![
                    Arc::new(Int32Array::from_iter_values(
                        rows.iter().map(|r| r.decile as i32),
                    )) as ArrayRef,
                    i(|r| r.rows),
                    i(|r| r.positives),
                    f(|r| r.min_score),
                    f(|r| r.max_score),
                    f(|r| r.lift),
                    i(|r| r.cumulative_rows),
                    f(|r| r.cumulative_capture),
                    f(|r| r.cumulative_lift),
                ];
                let array = StructArray::new(gains_fields(), columns, None);
                Ok(SingleRowListArrayBuilder::new(Arc::new(array)).build_list_scalar())
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.scores.capacity() * std::mem::size_of::<f64>()
            + self.labels.capacity()
    }
}
