//! `explain_predict(model, k, f1, …, fN)`: the k features that move a
//! row's predicted log-odds most, for a classifier.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, ListBuilder, StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature,
};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction, ModelSlot, check_model_features};

/// The SQL name.
pub const NAME: &str = "explain_predict";

fn item_fields() -> Fields {
    Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("contribution", DataType::Float64, false),
    ])
}

fn output_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(item_fields()),
        true,
    )))
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The k input columns that move a row's predicted log-odds most under a \
classifier, largest |contribution| first: a list of {feature, contribution}. Under logistic \
regression a numeric column contributes coefficient × its standardized value (NULL is the \
training mean: 0) and a text or boolean column the coefficient of the row's category (0 for a \
category unseen at training); the logit is the intercept (plus the class-weight offset) plus \
every column's contribution. Under boosted trees contributions are TreeSHAP values \
(path-dependent, Lundberg et al. 2018; a category's one-hot dimensions summed); the logit is \
DESCRIBE MODEL's parameter.expected_value plus every column's contribution. A text or boolean \
column is named `column=value`.",
    syntax_example = "explain_predict('model[@version]', k, feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT customer_id, explain_predict('churn', 3, recency_days, frequency, monetary) FROM next;
```"#,
    argument(
        name = "model",
        description = "A classifier's name (@version optional)."
    ),
    argument(name = "k", description = "How many columns to list: a constant ≥ 1."),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExplainPredict(ModelSlot);

impl Default for ExplainPredict {
    fn default() -> Self {
        Self::new()
    }
}

impl ExplainPredict {
    /// The registered, unbound function.
    pub fn new() -> Self {
        Self(ModelSlot::unbound())
    }
}

/// `k` from its scalar value.
fn k_of(value: Option<&ScalarValue>) -> Result<usize> {
    let Some(value) = value else {
        return plan_err!("{NAME}: argument 2 (k) must be a constant");
    };
    match value.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(k))) if k >= 1 => Ok(k as usize),
        _ => plan_err!("{NAME}: argument 2 (k) must be a whole number ≥ 1, got {value}"),
    }
}

impl ModelFunction for ExplainPredict {
    fn models(&self) -> Vec<Bound> {
        self.0.model.iter().cloned().collect()
    }

    fn model_arguments(&self) -> usize {
        1
    }

    fn is_bound(&self) -> bool {
        self.0.model.is_some()
    }

    fn bind(&self, models: Vec<Bound>) -> Result<Self> {
        self.0.bind_classifier(NAME, models).map(Self)
    }
}

impl ScalarUDFImpl for ExplainPredict {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 3 {
            return plan_err!(
                "{NAME}: expected the model, k and at least one feature, got {} arguments",
                arg_types.len()
            );
        }
        let mut types = arg_types.to_vec();
        types[0] = DataType::Utf8;
        types[1] = DataType::Int64;
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(output_type())
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::bound::call_name(NAME, args))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(bound) = &self.0.model {
            let model = bound.classifier(NAME)?;
            check_model_features(
                NAME,
                model.label(),
                model.features(),
                &args.arg_fields[2..],
                2,
            )?;
            k_of(args.scalar_arguments.get(1).copied().flatten())?;
        }
        Ok(Arc::new(Field::new(NAME, output_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let model = self.0.model(NAME)?.classifier(NAME)?;
        let k = match &args.args[1] {
            ColumnarValue::Scalar(v) => k_of(Some(v))?,
            ColumnarValue::Array(_) => {
                return exec_err!("{NAME}: argument 2 (k) must be a constant");
            }
        };
        let rows = args.number_rows;
        let columns: Vec<ArrayRef> = args.args[2..]
            .iter()
            .map(|c| c.to_array(rows))
            .collect::<Result<_>>()?;
        let explained = model.explain(NAME, &columns, rows)?;
        let mut out = ListBuilder::new(StructBuilder::from_fields(item_fields(), k)).with_field(
            Arc::new(Field::new_list_field(DataType::Struct(item_fields()), true)),
        );
        for mut items in explained {
            // Stable: equal magnitudes keep training order.
            items.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            let entries = out.values();
            for (name, contribution) in items.iter().take(k) {
                entries
                    .field_builder::<StringBuilder>(0)
                    .expect("field 0 is text")
                    .append_value(name);
                entries
                    .field_builder::<Float64Builder>(1)
                    .expect("field 1 is a number")
                    .append_value(*contribution);
                entries.append(true);
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}
