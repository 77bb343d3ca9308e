//! `model_uplift_report(model, label, treatment, f1, …, fN)`: an uplift
//! model's ranking scored on rows of a randomised experiment, beside the
//! random and perfect rankings — for `model_evaluate`. Keeps every row's
//! uplift, label and arm (10 bytes a row, counted in the memory pool
//! through `size`): the metrics rank all rows. The kernel is
//! `microseg_kernels::uplift`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{
    Result, ScalarValue, exec_err, internal_err, plan_datafusion_err, plan_err,
};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Documentation, Signature};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction, ModelSlot, check_model_features};
use super::uplift::UpliftModel;
use microseg_kernels::uplift::{UpliftScores, report};

/// The SQL name.
const NAME: &str = "model_uplift_report";
/// Model, label, treatment.
const LEAD: usize = 3;

/// One report row's fields.
pub fn uplift_fields() -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let i = |n: &str| Field::new(n, DataType::Int64, false);
    Fields::from(vec![
        Field::new("ranking", DataType::Utf8, false),
        i("rows"),
        i("treated"),
        i("control"),
        f("qini_coefficient"),
        f("qini_area"),
        f("auuc"),
        f("uplift_area"),
        f("uplift_at_10"),
        f("uplift_at_20"),
        f("uplift_at_30"),
    ])
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "An uplift model scored on rows of a randomised experiment: a list of three \
rows {ranking, rows, treated, control, qini_coefficient, qini_area, auuc, uplift_area, \
uplift_at_10, uplift_at_20, uplift_at_30} for the model's ranking (by predict_uplift), a random \
ranking (expected values) and the perfect one. scikit-uplift's definitions: rows by descending \
uplift; at N rows taken (at each distinct score) the Qini curve is Yₜ − Y꜀·Nₜ/N꜀ and the uplift \
curve (Yₜ/Nₜ − Y꜀/N꜀)·N; areas by the trapezoidal rule; qini_coefficient and auuc are (area − \
random) ÷ (perfect − random); uplift_at_k is the treated minus the control positive rate among \
the ⌊n·k%⌋ top rows (ties at the cut in proportion). model_evaluate() unnests it.",
    syntax_example = "model_uplift_report('model', label, treatment, feature1, …, featureN)",
    argument(
        name = "model",
        description = "An uplift model's name (@version optional)."
    ),
    argument(name = "label", description = "The outcome, as at training."),
    argument(
        name = "treatment",
        description = "The treatment column, as at training (its two values)."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UpliftReport {
    slot: ModelSlot,
}

impl UpliftReport {
    /// As registered, unbound.
    pub fn new() -> Self {
        Self {
            slot: ModelSlot::unbound(),
        }
    }
}

impl Default for UpliftReport {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelFunction for UpliftReport {
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

impl AggregateUDFImpl for UpliftReport {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.slot.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() <= LEAD {
            return plan_err!(
                "{NAME}: expected the model, the label, the treatment and the features, got {} arguments",
                arg_types.len()
            );
        }
        let mut types = arg_types.to_vec();
        types[0] = DataType::Utf8;
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of(DataType::Struct(uplift_fields())))
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if let Some(bound) = &self.slot.model {
            let model = bound.uplift(NAME)?;
            check_model_features(
                NAME,
                &model.label,
                &model.features,
                arg_fields.get(LEAD..).unwrap_or_default(),
                LEAD,
            )?;
        }
        Ok(Arc::new(Field::new(
            NAME,
            list_of(DataType::Struct(uplift_fields())),
            true,
        )))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ReportAccumulator {
            model: self.slot.model(NAME)?.clone(),
            scores: Vec::new(),
            labels: Vec::new(),
            treated: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |what: &str, t: DataType| -> FieldRef {
            Field::new(format!("{}[{what}]", args.name), list_of(t), true).into()
        };
        Ok(vec![
            field("scores", DataType::Float64),
            field("labels", DataType::Boolean),
            field("treated", DataType::Boolean),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[derive(Debug)]
struct ReportAccumulator {
    model: Bound,
    scores: Vec<f64>,
    labels: Vec<bool>,
    treated: Vec<bool>,
}

/// `values` with NULLs refused, naming the column and the model.
fn required(values: Vec<Option<bool>>, what: &str, model: &UpliftModel) -> Result<Vec<bool>> {
    values
        .into_iter()
        .map(|v| {
            v.ok_or_else(|| {
                plan_datafusion_err!(
                    "{NAME}: {what} is NULL in a row: model {} can only be scored on rows with a known outcome and arm (filter the others out)",
                    model.label
                )
            })
        })
        .collect()
}

impl Accumulator for ReportAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let bound = self.model.clone();
        let model = bound.uplift(NAME)?;
        let Some(columns) = values
            .get(LEAD..)
            .filter(|c| c.len() == model.features.len())
        else {
            return internal_err!("{NAME}: expected {} features", model.features.len());
        };
        let rows = values[0].len();
        if rows == 0 {
            return Ok(());
        }
        let labels = model.positives(NAME, &values[1])?;
        let labels = required(labels, &format!("label {}", model.label_column), model)?;
        let treated = model.treated_rows(NAME, &values[2])?;
        let treated = required(
            treated,
            &format!("treatment {}", model.treatment_column),
            model,
        )?;
        self.scores.extend(model.uplift(NAME, columns, rows)?);
        self.labels.extend(labels);
        self.treated.extend(treated);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [scores, labels, treated] = states else {
            return internal_err!("{NAME}: expected 3 state columns");
        };
        let (Some(scores), Some(labels), Some(treated)) = (
            scores.as_list_opt::<i32>(),
            labels.as_list_opt::<i32>(),
            treated.as_list_opt::<i32>(),
        ) else {
            return internal_err!("{NAME}: unexpected state types");
        };
        for i in 0..scores.len() {
            if scores.is_null(i) {
                continue;
            }
            self.scores.extend(
                scores
                    .value(i)
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter(),
            );
            self.labels
                .extend(labels.value(i).as_boolean().values().iter());
            self.treated
                .extend(treated.value(i).as_boolean().values().iter());
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = |a: ArrayRef| SingleRowListArrayBuilder::new(a).build_list_scalar();
        Ok(vec![
            list(Arc::new(Float64Array::from(self.scores.clone()))),
            list(Arc::new(BooleanArray::from(self.labels.clone()))),
            list(Arc::new(BooleanArray::from(self.treated.clone()))),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let label = self.model.0.label().to_string();
        let r = match report(&self.scores, &self.labels, &self.treated) {
            Ok(r) => r,
            Err(e) => return exec_err!("{NAME}: model {label}: {e}"),
        };
        let rankings: [(&str, &UpliftScores); 3] = [
            ("model", &r.model),
            ("random", &r.random),
            ("perfect", &r.perfect),
        ];
        let f = |g: &dyn Fn(&UpliftScores) -> f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter(
                rankings
                    .iter()
                    .map(|(_, s)| Some(g(s)).filter(|v| v.is_finite())),
            ))
        };
        let count = |v: usize| -> ArrayRef { Arc::new(Int64Array::from(vec![v as i64; 3])) };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                rankings.iter().map(|(n, _)| *n),
            )),
            count(r.rows),
            count(r.treated),
            count(r.rows - r.treated),
            f(&|s| s.qini_coefficient),
            f(&|s| s.qini_area),
            f(&|s| s.auuc),
            f(&|s| s.uplift_area),
            f(&|s| s.at[0]),
            f(&|s| s.at[1]),
            f(&|s| s.at[2]),
        ];
        let array = StructArray::new(uplift_fields(), columns, None);
        Ok(SingleRowListArrayBuilder::new(Arc::new(array)).build_list_scalar())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.scores.capacity() * std::mem::size_of::<f64>()
            + self.labels.capacity()
            + self.treated.capacity()
    }
}
