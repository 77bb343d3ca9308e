//! `cluster_assign(model, f1, …, fN)` and `cluster_distance(model, f1, …, fN)`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction};
use super::nearest::{Layout, Scale};
use super::{Feature, KMeansModel, encode, encode_into, kmeans::nearest};

/// Rows encoded and assigned at a time: 2048 × d f32 stay in L1/L2.
const CHUNK: usize = 2048;

/// The feature columns as `f64` with their scales, when the kernel can
/// read them directly: panel layout, every feature numeric, no NULLs.
fn numeric_columns(
    features: &[Feature],
    columns: &[ArrayRef],
    layout: Layout,
) -> Result<Option<(Vec<Float64Array>, Vec<Scale>)>> {
    if layout != Layout::Panels || features.iter().any(|f| f.scale().is_none()) {
        return Ok(None);
    }
    let mut values = Vec::with_capacity(columns.len());
    for (feature, column) in features.iter().zip(columns) {
        // After the cast: a NullArray counts no nulls of its own.
        let cast = match cast(column, &DataType::Float64) {
            Ok(cast) => cast,
            Err(e) => return exec_err!("feature {}: {e}", feature.name()),
        };
        if cast.null_count() > 0 {
            return Ok(None);
        }
        values.push(cast.as_primitive::<Float64Type>().clone());
    }
    let scales = features.iter().filter_map(Feature::scale).collect();
    Ok(Some((values, scales)))
}

/// Refuses NaN and ±infinity in the numeric features (only floating-point
/// columns can hold them). NULL is the missing value and is encoded as the
/// training mean; a NaN is a broken one: it has no distance to any
/// centroid, so there is no nearest cluster to give (the kernel would
/// still pick one, silently), and an infinite value is equally far from
/// every centroid. The error names the feature so the query can be fixed.
fn refuse_non_finite(
    func: &str,
    model: &KMeansModel,
    features: &[Feature],
    columns: &[ArrayRef],
) -> Result<()> {
    match super::first_non_finite(features, columns)? {
        Some((feature, x)) => exec_err!(
            "{func}: feature {} of model {} is {x}: a value that is not a finite number has no nearest cluster (filter such rows out, or turn them into NULL, which is encoded as the training mean)",
            feature.name(),
            model.label
        ),
        None => Ok(()),
    }
}

/// Whether `data_type` is a list (a point given as coordinates).
fn is_list(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    )
}

/// The type a list point is coerced to.
fn point_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// A point given as a JSON array of `dims` numbers.
fn point_of(func: &str, text: &str, dims: usize) -> Result<Vec<f64>> {
    match serde_json::from_str::<Vec<f64>>(text) {
        Ok(point) if point.len() == dims => Ok(point),
        Ok(point) => plan_err!(
            "{func}: argument 2 (point) has {} coordinates, the model has {dims} dimensions",
            point.len()
        ),
        Err(e) => plan_err!("{func}: argument 2 (point) must be a JSON array of numbers: {e}"),
    }
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The cluster (1..k) of a k-means model nearest to the row's features. The \
features are the model's training columns, in the order CREATE MODEL listed them; they are \
encoded as at training (NULL numbers become the training mean, numbers are z-scored when the \
model standardizes, text and booleans are one-hot with categories unseen at training adding \
nothing). A NaN or infinite number is an error naming the feature: it has no nearest cluster. \
The microseg engine binds the call to the named model when it plans the statement; a view or \
prepared statement binds again at each run, so it follows CREATE OR REPLACE MODEL.",
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

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "The Euclidean distance, in a model's encoded feature space, from the row to \
`point`: a list of the encoded coordinates, or their JSON text. The lookalike() table function uses it: \
the point is the seed audience's mean, `model_mean(model, features…)`.",
    syntax_example = "model_distance('model', point, feature1, …, featureN)",
    argument(
        name = "model",
        description = "The model's name, optionally @version: a string literal."
    ),
    argument(
        name = "point",
        description = "One number per encoded dimension: a List<Float64> (e.g. model_mean's result, NULL is an error) or a JSON array as text."
    ),
    argument(
        name = "feature1, …, featureN",
        description = "The model's features, in training order."
    )
)]
#[derive(Debug)]
struct PointDoc;

/// What the function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    Assign,
    Distance,
    ToPoint,
}

/// `cluster_assign`, `cluster_distance` or `model_distance`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ClusterAssign {
    name: &'static str,
    mode: Mode,
    signature: Signature,
    /// The model the engine resolved argument 1 to; `None` as registered.
    model: Option<Bound>,
}

impl ClusterAssign {
    /// `cluster_assign`: the nearest cluster, 1..k.
    pub fn assign() -> Self {
        Self::new("cluster_assign", Mode::Assign)
    }

    /// `cluster_distance`: the distance to it.
    pub fn distance() -> Self {
        Self::new("cluster_distance", Mode::Distance)
    }

    /// `model_distance`: the distance to a given point.
    pub fn to_point() -> Self {
        Self::new("model_distance", Mode::ToPoint)
    }

    fn new(name: &'static str, mode: Mode) -> Self {
        Self {
            name,
            mode,
            signature: Signature::user_defined(Volatility::Immutable),
            model: None,
        }
    }

    /// Arguments before the features.
    fn leading(&self) -> usize {
        if self.mode == Mode::ToPoint { 2 } else { 1 }
    }

    fn output_type(&self) -> DataType {
        if self.mode == Mode::Assign {
            DataType::Int64
        } else {
            DataType::Float64
        }
    }
}

impl ModelFunction for ClusterAssign {
    fn model_arguments(&self) -> usize {
        1
    }

    fn is_bound(&self) -> bool {
        self.model.is_some()
    }

    fn models(&self) -> Vec<Bound> {
        self.model.iter().cloned().collect()
    }

    /// What the engine's analyzer puts in the plan in place of the
    /// registered (unbound) function.
    fn bind(&self, models: Vec<Bound>) -> Result<Self> {
        let [model] = <[Bound; 1]>::try_from(models).map_err(|m| {
            plan_datafusion_err!("{}: expected 1 model, got {}", self.name, m.len())
        })?;
        model.kmeans(self.name)?;
        Ok(Self {
            name: self.name,
            mode: self.mode,
            signature: self.signature.clone(),
            model: Some(model),
        })
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
        if arg_types.len() < self.leading() + 1 {
            return plan_err!(
                "{}: expected the model{} and at least one feature, got {} arguments",
                self.name,
                if self.mode == Mode::ToPoint {
                    ", the point"
                } else {
                    ""
                },
                arg_types.len()
            );
        }
        let mut types = arg_types.to_vec();
        types[0] = DataType::Utf8;
        if self.mode == Mode::ToPoint {
            // The point: a list of coordinates (model_mean's result), or
            // their JSON text.
            types[1] = if is_list(&types[1]) {
                point_type()
            } else {
                DataType::Utf8
            };
        }
        Ok(types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.output_type())
    }

    /// `cluster_assign('m', x, y)`: the same before and after binding, so
    /// binding never changes a plan's schema.
    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::bound::call_name(self.name, args))
    }

    /// Once bound, checks the features against the model, so a wrong call
    /// fails while the plan is analyzed, before any data is read.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(bound) = &self.model else {
            return Ok(Arc::new(Field::new(self.name, self.output_type(), true)));
        };
        let (model, _) = bound.kmeans(self.name)?;
        if self.mode == Mode::ToPoint && !is_list(args.arg_fields[1].data_type()) {
            let point = args.scalar_arguments.get(1).copied().flatten();
            let Some(Some(Some(point))) = point.map(|p| p.try_as_str()) else {
                return plan_err!("{}: argument 2 (point) must be a string literal", self.name);
            };
            point_of(self.name, point, model.dims())?;
        }
        super::bound::check_features(
            self.name,
            model,
            &args.arg_fields[self.leading()..],
            self.leading(),
        )?;
        Ok(Arc::new(Field::new(self.name, self.output_type(), true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(bound) = &self.model else {
            return exec_err!(
                "{}: argument 1 (model) was not resolved to a model: run the query through the microseg engine, which binds model names when it plans",
                self.name
            );
        };
        let (model, centroids) = bound.kmeans(self.name)?;
        let rows = args.number_rows;
        let columns: Vec<ArrayRef> = args.args[self.leading()..]
            .iter()
            .map(|c| c.to_array(rows))
            .collect::<Result<_>>()?;
        refuse_non_finite(self.name, model, &model.features, &columns)?;
        let d = model.dims();
        let result: ArrayRef = if self.mode == Mode::ToPoint {
            let mut encoded: Vec<f64> = Vec::with_capacity(rows * d);
            encode(&model.features, &columns, rows, &mut encoded)?;
            let mut out = Float64Builder::with_capacity(rows);
            match &args.args[1] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(point))) => {
                    let target = point_of(self.name, point, d)?;
                    for row in encoded.chunks_exact(d) {
                        out.append_value(nearest(&target, d, row).1.sqrt());
                    }
                }
                ColumnarValue::Scalar(ScalarValue::Utf8(None)) => {
                    return exec_err!("{}: argument 2 (point) is NULL", self.name);
                }
                point => {
                    let points = point.to_array(rows)?;
                    let Some(points) = points.as_list_opt::<i32>() else {
                        return exec_err!(
                            "{}: argument 2 (point) must be a list of numbers or JSON text, got {}",
                            self.name,
                            points.data_type()
                        );
                    };
                    let coordinates = points.values().as_primitive::<Float64Type>();
                    let offsets = points.value_offsets();
                    for (i, row) in encoded.chunks_exact(d).enumerate() {
                        let range = offsets[i] as usize..offsets[i + 1] as usize;
                        if points.is_null(i) {
                            return exec_err!(
                                "{}: argument 2 (point) is NULL: the seed relation has no rows, so there is no mean point to measure from",
                                self.name
                            );
                        }
                        if range.len() != d {
                            return exec_err!(
                                "{}: argument 2 (point) has {} coordinates, model {} has {d} dimensions",
                                self.name,
                                range.len(),
                                model.label
                            );
                        }
                        if coordinates.null_count() > 0
                            && range.clone().any(|j| coordinates.is_null(j))
                        {
                            return exec_err!(
                                "{}: argument 2 (point) has a NULL coordinate",
                                self.name
                            );
                        }
                        let target = &coordinates.values()[range];
                        out.append_value(nearest(target, d, row).1.sqrt());
                    }
                }
            }
            Arc::new(out.finish())
        } else {
            // Encoded values are f32 at training too, so nothing is lost;
            // the kernel returns the exact f64 nearest centroid. Rows go
            // through in chunks whose encoding stays in cache.
            let layout = Layout::preferred();
            let mut index = vec![0u32; rows];
            let mut dist = (self.mode == Mode::Distance).then(|| vec![0.0f64; rows]);
            match numeric_columns(&model.features, &columns, layout)? {
                // All numeric without NULLs: the kernel reads the columns.
                Some((values, scales)) => {
                    let slices: Vec<&[f64]> = values.iter().map(|v| &v.values()[..]).collect();
                    centroids.assign_columns(&slices, &scales, &mut index, dist.as_deref_mut());
                }
                None => {
                    let mut encoded = vec![0.0f32; layout.len(CHUNK.min(rows), d)];
                    for start in (0..rows).step_by(CHUNK) {
                        let len = CHUNK.min(rows - start);
                        let part: Vec<ArrayRef> =
                            columns.iter().map(|c| c.slice(start, len)).collect();
                        let encoded = &mut encoded[..layout.len(len, d)];
                        encoded.fill(0.0);
                        encode_into(&model.features, &part, len, layout, encoded)?;
                        let range = start..start + len;
                        centroids.assign(
                            encoded,
                            layout,
                            len,
                            &mut index[range.clone()],
                            dist.as_mut().map(|dist| &mut dist[range]),
                        );
                    }
                }
            }
            match dist {
                Some(dist) => Arc::new(Float64Array::from_iter_values(
                    dist.into_iter().map(f64::sqrt),
                )),
                None => Arc::new(Int64Array::from_iter_values(
                    index.into_iter().map(|j| i64::from(j) + 1),
                )),
            }
        };
        Ok(ColumnarValue::Array(result))
    }

    fn documentation(&self) -> Option<&Documentation> {
        match self.mode {
            Mode::Assign => AssignDoc.doc(),
            Mode::Distance => DistanceDoc.doc(),
            Mode::ToPoint => PointDoc.doc(),
        }
    }
}
