//! `cluster_assign(model, f1, …, fN)` and `cluster_distance(model, f1, …, fN)`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{ArrayRef, Float64Builder, Int64Builder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::{KMeansModel, encode, kmeans::nearest};

/// What the engine puts in front of a model's JSON when it inlines it.
pub const MODEL_LITERAL_PREFIX: &str = "microseg-model:";

/// Parsed models by the hash of their literal: a query parses its model
/// once, not once per batch. Small, because a session uses few models.
static MODELS: LazyLock<Mutex<HashMap<u64, Arc<KMeansModel>>>> = LazyLock::new(Default::default);
const MODEL_CACHE_SIZE: usize = 16;

/// The model inlined in `literal`.
pub fn model_of(func: &str, literal: &str) -> Result<Arc<KMeansModel>> {
    let Some(json) = literal.strip_prefix(MODEL_LITERAL_PREFIX) else {
        return plan_err!(
            "{func}: argument 1 (model) must name a model; '{}' was not replaced by one (run the query through the microseg engine, which inlines the model)",
            literal.chars().take(60).collect::<String>()
        );
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut hasher);
    let key = hasher.finish();
    let mut cache = MODELS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(model) = cache.get(&key) {
        return Ok(Arc::clone(model));
    }
    let model: KMeansModel = match serde_json::from_str(json) {
        Ok(model) => model,
        Err(e) => return plan_err!("{func}: argument 1 (model) is not a valid model: {e}"),
    };
    if cache.len() >= MODEL_CACHE_SIZE {
        cache.clear();
    }
    let model = Arc::new(model);
    cache.insert(key, Arc::clone(&model));
    Ok(model)
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The cluster (1..k) of a k-means model nearest to the row's features. The \
features are the model's training columns, in the order CREATE MODEL listed them; they are \
encoded as at training (NULL numbers become the training mean, numbers are z-scored when the \
model standardizes, text and booleans are one-hot with categories unseen at training adding \
nothing). The microseg engine replaces the model name by the model itself when planning.",
    syntax_example = "cluster_assign('model[@version]', feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT customer_id, cluster_assign('cust_kmeans', recency_days, frequency, monetary) AS cluster
  FROM customer_features;
```"#,
    argument(
        name = "model",
        description = "The model's name, optionally @version: a string literal."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct AssignDoc;

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The Euclidean distance, in the model's encoded feature space, from the row to \
the centroid cluster_assign picks. Small distances are typical members; large ones are outliers \
of their cluster.",
    syntax_example = "cluster_distance('model[@version]', feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT customer_id, cluster_distance('cust_kmeans', recency_days, frequency, monetary) AS d
  FROM customer_features ORDER BY d DESC LIMIT 10;
```"#,
    argument(
        name = "model",
        description = "The model's name, optionally @version: a string literal."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct DistanceDoc;

/// `cluster_assign` or `cluster_distance`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClusterAssign {
    name: &'static str,
    distance: bool,
    signature: Signature,
}

impl ClusterAssign {
    /// `cluster_assign`: the nearest cluster, 1..k.
    pub fn assign() -> Self {
        Self {
            name: "cluster_assign",
            distance: false,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// `cluster_distance`: the distance to it.
    pub fn distance() -> Self {
        Self {
            name: "cluster_distance",
            distance: true,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn output_type(&self) -> DataType {
        if self.distance {
            DataType::Float64
        } else {
            DataType::Int64
        }
    }
}

impl ScalarUDFImpl for ClusterAssign {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
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

    /// Column names show the model's `name@version`, not the inlined model.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        let model = match args.first() {
            Some(Expr::Literal(ScalarValue::Utf8(Some(text)), _)) => {
                match model_of(self.name, text) {
                    Ok(model) => format!("'{}'", model.label),
                    Err(_) => args[0].schema_name().to_string(),
                }
            }
            Some(other) => other.schema_name().to_string(),
            None => String::new(),
        };
        let rest: Vec<String> = args
            .iter()
            .skip(1)
            .map(|a| a.schema_name().to_string())
            .collect();
        Ok(format!("{}({model}, {})", self.name, rest.join(", ")))
    }

    /// Checks the features against the model while planning, so a wrong
    /// call fails before any data is read.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(Some(literal)) = args.scalar_arguments.first() else {
            return plan_err!("{}: argument 1 (model) must be a string literal", self.name);
        };
        let Some(Some(text)) = literal.try_as_str() else {
            return plan_err!("{}: argument 1 (model) must be a string literal", self.name);
        };
        let model = model_of(self.name, text)?;
        let given = args.arg_fields.len() - 1;
        if given != model.features.len() {
            return plan_err!(
                "{}: model {} has {} features ({}), got {given}",
                self.name,
                model.label,
                model.features.len(),
                model
                    .features
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (i, (feature, field)) in model.features.iter().zip(&args.arg_fields[1..]).enumerate() {
            if !feature.accepts(field.data_type()) {
                return plan_err!(
                    "{}: argument {} ({}) is {}, but the model's feature {} is {}",
                    self.name,
                    i + 2,
                    field.name(),
                    field.data_type(),
                    feature.name(),
                    if matches!(feature, super::Feature::Numeric { .. }) {
                        "numeric"
                    } else {
                        "categorical (text or boolean)"
                    }
                );
            }
        }
        Ok(Arc::new(Field::new(self.name, self.output_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(literal))) = &args.args[0] else {
            return exec_err!("{}: argument 1 (model) must be a string literal", self.name);
        };
        let model = model_of(self.name, literal)?;
        let rows = args.number_rows;
        let columns: Vec<ArrayRef> = args.args[1..]
            .iter()
            .map(|c| c.to_array(rows))
            .collect::<Result<_>>()?;
        let d = model.dims();
        let mut encoded: Vec<f64> = Vec::with_capacity(rows * d);
        encode(&model.features, &columns, rows, &mut encoded)?;
        let result: ArrayRef = if self.distance {
            let mut out = Float64Builder::with_capacity(rows);
            for point in encoded.chunks_exact(d) {
                out.append_value(nearest(&model.centroids, d, point).1.sqrt());
            }
            Arc::new(out.finish())
        } else {
            let mut out = Int64Builder::with_capacity(rows);
            for point in encoded.chunks_exact(d) {
                out.append_value(nearest(&model.centroids, d, point).0 as i64 + 1);
            }
            Arc::new(out.finish())
        };
        Ok(ColumnarValue::Array(result))
    }

    fn documentation(&self) -> Option<&Documentation> {
        if self.distance {
            DistanceDoc.doc()
        } else {
            AssignDoc.doc()
        }
    }
}
