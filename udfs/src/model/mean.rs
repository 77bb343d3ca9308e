//! `model_mean(model, f1, …, fN)`: the mean of a k-means model's encoded
//! rows, the seed point of `lookalike`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Documentation, Signature};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction, ModelSlot, check_features};
use super::encode;

/// The SQL name.
pub const NAME: &str = "model_mean";

/// `List<Float64>`: a point in a model's encoded space.
pub fn point_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The mean of the rows' features encoded as a k-means model encodes them (NULL \
numbers become the training mean, numbers are z-scored when the model standardizes, text and \
booleans are one-hot): a List<Float64> with one number per encoded dimension, NULL when there are \
no rows. The point lookalike() measures candidates from; model_distance accepts it. The microseg \
engine binds the call to the named model each time the plan runs.",
    syntax_example = "model_mean('model[@version]', feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT model_distance('cust_kmeans', s.point, recency_days, frequency, monetary) AS d
  FROM customer_features,
       (SELECT model_mean('cust_kmeans', recency_days, frequency, monetary) AS point
        FROM champions) AS s;
```"#,
    argument(
        name = "model",
        description = "The model's name, optionally @version: a string literal or parameter."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ModelMean(ModelSlot);

impl Default for ModelMean {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelMean {
    /// The registered, unbound function.
    pub fn new() -> Self {
        Self(ModelSlot::unbound())
    }
}

impl ModelFunction for ModelMean {
    fn model_arguments(&self) -> usize {
        1
    }

    fn is_bound(&self) -> bool {
        self.0.model.is_some()
    }

    fn models(&self) -> Vec<Bound> {
        self.0.model.iter().cloned().collect()
    }

    fn bind(&self, models: Vec<Bound>) -> Result<Self> {
        self.0.bind(NAME, models).map(Self)
    }
}

/// Argument types of a model aggregate: the model name as text, the
/// features as given (at least one).
pub(crate) fn coerce_model_arguments(func: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    if arg_types.len() < 2 {
        return plan_err!(
            "{func}: expected the model and at least one feature, got {} arguments",
            arg_types.len()
        );
    }
    let mut types = arg_types.to_vec();
    types[0] = DataType::Utf8;
    Ok(types)
}

impl AggregateUDFImpl for ModelMean {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_model_arguments(NAME, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(point_type())
    }

    /// Once bound, checks the features against the model.
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if let Some(bound) = &self.0.model {
            let (model, _) = bound.kmeans(NAME)?;
            check_features(NAME, model, arg_fields.get(1..).unwrap_or_default(), 1)?;
        }
        Ok(Arc::new(Field::new(NAME, point_type(), true)))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let bound = self.0.model(NAME)?.clone();
        let d = bound.kmeans(NAME)?.0.dims();
        Ok(Box::new(MeanAccumulator {
            model: bound,
            rows: 0,
            sums: vec![0.0; d],
            encoded: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Field::new(format!("{}[rows]", args.name), DataType::UInt64, true).into(),
            Field::new(format!("{}[sums]", args.name), point_type(), true).into(),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Row count and per-dimension sums of the encoded rows.
#[derive(Debug)]
struct MeanAccumulator {
    model: Bound,
    rows: u64,
    sums: Vec<f64>,
    /// Reused for each batch's encoding.
    encoded: Vec<f64>,
}

impl Accumulator for MeanAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (model, _) = self.model.kmeans(NAME)?;
        let Some(columns) = values.get(1..).filter(|c| c.len() == model.features.len()) else {
            return internal_err!(
                "{NAME}: expected the model and {} features",
                model.features.len()
            );
        };
        let rows = columns.first().map_or(0, |c| c.len());
        let d = self.sums.len();
        self.encoded.clear();
        encode(&model.features, columns, rows, &mut self.encoded)?;
        for row in self.encoded.chunks_exact(d) {
            for (s, x) in self.sums.iter_mut().zip(row) {
                *s += x;
            }
        }
        self.rows += rows as u64;
        // A large batch's encoding is not kept between batches.
        if self.encoded.capacity() > 1 << 16 {
            self.encoded = Vec::new();
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(rows), Some(sums)) = (
            states
                .first()
                .and_then(|s| s.as_primitive_opt::<UInt64Type>()),
            states.get(1).and_then(|s| s.as_list_opt::<i32>()),
        ) else {
            return internal_err!("{NAME}: unexpected state");
        };
        let values = sums.values().as_primitive::<Float64Type>();
        let d = self.sums.len();
        for i in 0..rows.len() {
            if rows.is_null(i) || sums.is_null(i) {
                continue;
            }
            let start = sums.value_offsets()[i] as usize;
            let end = sums.value_offsets()[i + 1] as usize;
            if end - start != d {
                return internal_err!(
                    "{NAME}: a partial state has {} dimensions, not {d}",
                    end - start
                );
            }
            for (s, x) in self.sums.iter_mut().zip(&values.values()[start..end]) {
                *s += x;
            }
            self.rows += rows.value(i);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            SingleRowListArrayBuilder::new(Arc::new(Float64Array::from(self.sums.clone())))
                .build_list_scalar(),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.rows == 0 {
            return ScalarValue::try_from(&point_type());
        }
        let n = self.rows as f64;
        let mean: Float64Array = self.sums.iter().map(|s| Some(s / n)).collect();
        Ok(SingleRowListArrayBuilder::new(Arc::new(mean)).build_list_scalar())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + (self.sums.capacity() + self.encoded.capacity()) * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Feature, Fitted, KMeansModel};
    use datafusion::arrow::array::{Int64Array, StringArray};

    fn bound() -> Bound {
        Bound(Arc::new(Fitted::kmeans(KMeansModel {
            label: "m@1".into(),
            features: vec![
                Feature::Numeric {
                    name: "x".into(),
                    mean: 10.0,
                    std: 2.0,
                    standardize: true,
                },
                Feature::Categorical {
                    name: "c".into(),
                    categories: vec![Some("a".into()), Some("b".into())],
                },
            ],
            k: 1,
            centroids: vec![0.0, 0.0, 0.0],
            sizes: vec![1],
        })))
    }

    fn accumulator() -> MeanAccumulator {
        MeanAccumulator {
            model: bound(),
            rows: 0,
            sums: vec![0.0; 3],
            encoded: Vec::new(),
        }
    }

    fn batch(x: Vec<Option<i64>>, c: Vec<Option<&str>>) -> Vec<ArrayRef> {
        let n = x.len();
        vec![
            Arc::new(StringArray::from(vec!["m"; n])),
            Arc::new(Int64Array::from(x)),
            Arc::new(StringArray::from(c)),
        ]
    }

    fn point(value: ScalarValue) -> Vec<f64> {
        let ScalarValue::List(list) = value else {
            panic!("not a list: {value:?}")
        };
        list.value(0)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec()
    }

    /// By hand: x = 12, 8, NULL → z = 1, −1, 0; c = a, b, b → [1,0], [0,1],
    /// [0,1]; the mean is [0, 1/3, 2/3], whether the rows come in one
    /// accumulator or are merged from two.
    #[test]
    fn mean_of_encoded_rows() {
        let mut one = accumulator();
        one.update_batch(&batch(
            vec![Some(12), Some(8), None],
            vec![Some("a"), Some("b"), Some("b")],
        ))
        .unwrap();
        let want = [0.0, 1.0 / 3.0, 2.0 / 3.0];
        for (a, b) in point(one.evaluate().unwrap()).iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let mut left = accumulator();
        left.update_batch(&batch(vec![Some(12)], vec![Some("a")]))
            .unwrap();
        let mut right = accumulator();
        right
            .update_batch(&batch(vec![Some(8), None], vec![Some("b"), Some("b")]))
            .unwrap();
        let state: Vec<ArrayRef> = right
            .state()
            .unwrap()
            .into_iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        left.merge_batch(&state).unwrap();
        for (a, b) in point(left.evaluate().unwrap()).iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn no_rows_is_null() {
        assert!(accumulator().evaluate().unwrap().is_null());
    }

    #[test]
    fn bound_checks_the_features() {
        let f = ModelMean::new().bind(vec![bound()]).unwrap();
        let fields: Vec<FieldRef> = vec![
            Arc::new(Field::new("m", DataType::Utf8, false)),
            Arc::new(Field::new("x", DataType::Int64, true)),
        ];
        let err = f.return_field(&fields).unwrap_err().to_string();
        assert!(
            err.contains("model_mean: model m@1 has 2 features (x, c), got 1"),
            "{err}"
        );
    }
}
