//! `model_quality(model, f1, …, fN)`: how well a k-means model fits the
//! rows, in one streaming pass (what `model_evaluate` reports).
//!
//! Kept per group: the row count, the sum of squared distances to the
//! nearest centroid, per cluster the rows and the sum of their distances
//! (all Davies–Bouldin needs), and for the silhouette, which is quadratic,
//! a sample of at most [`SAMPLE`] encoded rows: those with the smallest
//! seeded hash of their encoded values (bottom-k). The sample depends only
//! on the rows, not on their order or how they are partitioned, and
//! partial samples merge into the same one; with at most [`SAMPLE`] rows
//! it is every row.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StructArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, UInt64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Documentation, Signature};
use datafusion_macros::user_doc;

use super::bound::{Bound, ModelFunction, ModelSlot, check_features};
use super::encode;
use super::kmeans::nearest;
use super::mean::coerce_model_arguments;
use super::metrics::{davies_bouldin_of, silhouette};

/// The SQL name.
pub const NAME: &str = "model_quality";
/// Rows the silhouette is computed on, at most.
pub const SAMPLE: usize = 2000;
/// Seed of the sample's hash.
const SEED: u64 = 42;

/// The result's fields, in order.
pub fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("rows", DataType::Int64, false),
        Field::new("mean_squared_distance", DataType::Float64, true),
        Field::new("davies_bouldin", DataType::Float64, true),
        Field::new("silhouette", DataType::Float64, true),
        Field::new("silhouette_sample", DataType::Int64, false),
    ])
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(t, true)))
}

#[user_doc(
    doc_section(label = "Model Functions"),
    description = "How well a k-means model fits the rows (features encoded as at training): a \
struct {rows, mean_squared_distance, davies_bouldin, silhouette, silhouette_sample}. \
mean_squared_distance is the mean squared distance to the nearest centroid; davies_bouldin the \
Davies–Bouldin index of the nearest-centroid labels (clusters without rows left out); silhouette \
the mean silhouette of a sample of at most 2,000 rows (every row when there are fewer), chosen by \
a seeded hash of the encoded row, so the same rows give the same sample in any order; \
silhouette_sample its size. A metric that is undefined (no rows, fewer than two clusters used) \
is NULL. The model_evaluate() table function reports it.",
    syntax_example = "model_quality('model[@version]', feature1, …, featureN)",
    sql_example = r#"```sql
> SELECT model_quality('cust_kmeans', recency_days, frequency, monetary).silhouette
  FROM holdout;
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
pub struct ModelQuality(ModelSlot);

impl Default for ModelQuality {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelQuality {
    /// The registered, unbound function.
    pub fn new() -> Self {
        Self(ModelSlot::unbound())
    }
}

impl ModelFunction for ModelQuality {
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

impl AggregateUDFImpl for ModelQuality {
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
        Ok(DataType::Struct(result_fields()))
    }

    /// Once bound, checks the features against the model.
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if let Some(bound) = &self.0.model {
            let (model, _) = bound.kmeans(NAME)?;
            check_features(NAME, model, arg_fields.get(1..).unwrap_or_default(), 1)?;
        }
        Ok(Arc::new(Field::new(
            NAME,
            DataType::Struct(result_fields()),
            false,
        )))
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let bound = self.0.model(NAME)?.clone();
        let (model, _) = bound.kmeans(NAME)?;
        let (k, d) = (model.k, model.dims());
        Ok(Box::new(QualityAccumulator {
            model: bound,
            d,
            rows: 0,
            squared: 0.0,
            counts: vec![0; k],
            sums: vec![0.0; k],
            sample: Sample::new(d),
            encoded: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |what: &str, t: DataType| -> FieldRef {
            Field::new(format!("{}[{what}]", args.name), t, true).into()
        };
        Ok(vec![
            field("rows", DataType::UInt64),
            field("squared", DataType::Float64),
            field("counts", list_of(DataType::UInt64)),
            field("sums", list_of(DataType::Float64)),
            field("sample_hashes", list_of(DataType::UInt64)),
            field("sample_rows", list_of(DataType::Float64)),
        ])
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(result(0, [None, None, None], 0))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

fn result(rows: u64, metrics: [Option<f64>; 3], sample: usize) -> ScalarValue {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![rows as i64])),
        Arc::new(Float64Array::from(vec![metrics[0]])),
        Arc::new(Float64Array::from(vec![metrics[1]])),
        Arc::new(Float64Array::from(vec![metrics[2]])),
        Arc::new(Int64Array::from(vec![sample as i64])),
    ];
    ScalarValue::Struct(Arc::new(StructArray::new(result_fields(), columns, None)))
}

/// splitmix64's finalizer: a well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seeded hash of an encoded row's bits.
fn row_hash(row: &[f64]) -> u64 {
    row.iter().fold(mix(SEED), |h, x| {
        mix(h.rotate_left(5) ^ x.to_bits().wrapping_add(0x9e37_79b9_7f4a_7c15))
    })
}

/// The rows with the [`SAMPLE`] smallest hashes (ties broken by the
/// values, so the set never depends on the order rows arrive in).
#[derive(Debug)]
struct Sample {
    d: usize,
    hashes: Vec<u64>,
    /// Row-major, `hashes.len()` × `d`.
    rows: Vec<f64>,
    /// Once [`SAMPLE`] rows are kept, a row hashing above this cannot get in.
    threshold: u64,
}

impl Sample {
    fn new(d: usize) -> Self {
        Self {
            d,
            hashes: Vec::new(),
            rows: Vec::new(),
            threshold: u64::MAX,
        }
    }

    fn offer(&mut self, hash: u64, row: &[f64]) {
        if hash > self.threshold {
            return;
        }
        self.hashes.push(hash);
        self.rows.extend_from_slice(row);
        if self.hashes.len() >= 2 * SAMPLE {
            self.settle();
        }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.d..(i + 1) * self.d]
    }

    fn order(&self, a: usize, b: usize) -> Ordering {
        self.hashes[a].cmp(&self.hashes[b]).then_with(|| {
            self.row(a)
                .iter()
                .zip(self.row(b))
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }

    /// Sorts by (hash, values) and keeps the first [`SAMPLE`].
    fn settle(&mut self) {
        let mut order: Vec<usize> = (0..self.hashes.len()).collect();
        order.sort_unstable_by(|&a, &b| self.order(a, b));
        order.truncate(SAMPLE);
        let hashes: Vec<u64> = order.iter().map(|&i| self.hashes[i]).collect();
        let mut rows = Vec::with_capacity(order.len() * self.d);
        for &i in &order {
            rows.extend_from_slice(self.row(i));
        }
        if hashes.len() == SAMPLE {
            self.threshold = hashes[SAMPLE - 1];
        }
        self.hashes = hashes;
        self.rows = rows;
    }

    fn size(&self) -> usize {
        self.hashes.capacity() * std::mem::size_of::<u64>()
            + self.rows.capacity() * std::mem::size_of::<f64>()
    }
}

#[derive(Debug)]
struct QualityAccumulator {
    model: Bound,
    d: usize,
    rows: u64,
    /// Sum of squared distances to the nearest centroid.
    squared: f64,
    /// Per cluster: rows, and the sum of their distances to it.
    counts: Vec<u64>,
    sums: Vec<f64>,
    sample: Sample,
    /// Reused for each batch's encoding.
    encoded: Vec<f64>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Accumulator for QualityAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (model, _) = self.model.kmeans(NAME)?;
        let Some(columns) = values.get(1..).filter(|c| c.len() == model.features.len()) else {
            return internal_err!(
                "{NAME}: expected the model and {} features",
                model.features.len()
            );
        };
        let rows = columns.first().map_or(0, |c| c.len());
        let d = self.d;
        self.encoded.clear();
        encode(&model.features, columns, rows, &mut self.encoded)?;
        for row in self.encoded.chunks_exact(d) {
            let (j, dist2) = nearest(&model.centroids, d, row);
            self.squared += dist2;
            self.counts[j] += 1;
            self.sums[j] += dist2.sqrt();
            self.sample.offer(row_hash(row), row);
        }
        self.rows += rows as u64;
        if self.encoded.capacity() > 1 << 16 {
            self.encoded = Vec::new();
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [rows, squared, counts, sums, hashes, sample] = states else {
            return internal_err!("{NAME}: expected 6 state columns, got {}", states.len());
        };
        let (Some(rows), Some(squared), Some(counts), Some(sums), Some(hashes), Some(sample)) = (
            rows.as_primitive_opt::<UInt64Type>(),
            squared.as_primitive_opt::<Float64Type>(),
            counts.as_list_opt::<i32>(),
            sums.as_list_opt::<i32>(),
            hashes.as_list_opt::<i32>(),
            sample.as_list_opt::<i32>(),
        ) else {
            return internal_err!("{NAME}: unexpected state types");
        };
        let k = self.counts.len();
        let d = self.d;
        for i in 0..rows.len() {
            if rows.is_null(i) {
                continue;
            }
            let part_counts = counts.value(i);
            let part_sums = sums.value(i);
            let part_hashes = hashes.value(i);
            let part_rows = sample.value(i);
            let part_counts = part_counts.as_primitive::<UInt64Type>().values();
            let part_sums = part_sums.as_primitive::<Float64Type>().values();
            let part_hashes = part_hashes.as_primitive::<UInt64Type>().values();
            let part_rows = part_rows.as_primitive::<Float64Type>().values();
            if part_counts.len() != k
                || part_sums.len() != k
                || part_rows.len() != part_hashes.len() * d
            {
                return internal_err!("{NAME}: a partial state does not fit the model");
            }
            self.rows += rows.value(i);
            self.squared += squared.value(i);
            for j in 0..k {
                self.counts[j] += part_counts[j];
                self.sums[j] += part_sums[j];
            }
            for (h, row) in part_hashes.iter().zip(part_rows.chunks_exact(d.max(1))) {
                self.sample.offer(*h, row);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = |array: ArrayRef| SingleRowListArrayBuilder::new(array).build_list_scalar();
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::Float64(Some(self.squared)),
            list(Arc::new(UInt64Array::from(self.counts.clone()))),
            list(Arc::new(Float64Array::from(self.sums.clone()))),
            list(Arc::new(UInt64Array::from(self.sample.hashes.clone()))),
            list(Arc::new(Float64Array::from(self.sample.rows.clone()))),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.rows == 0 {
            return Ok(result(0, [None, None, None], 0));
        }
        let (model, _) = self.model.kmeans(NAME)?;
        let d = self.d;
        self.sample.settle();
        let msd = self.squared / self.rows as f64;
        let db = davies_bouldin_of(&self.sums, &self.counts, d, &model.centroids);
        let sil = silhouette(&self.sample.rows, d, &model.centroids, SAMPLE, SEED);
        Ok(result(
            self.rows,
            [finite(msd), finite(db), finite(sil)],
            self.sample.hashes.len(),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.counts.capacity() * std::mem::size_of::<u64>()
            + (self.sums.capacity() + self.encoded.capacity()) * std::mem::size_of::<f64>()
            + self.sample.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Feature, Fitted, KMeansModel};
    use datafusion::arrow::array::StringArray;

    fn bound() -> Bound {
        Bound(Arc::new(Fitted::kmeans(KMeansModel {
            label: "m@1".into(),
            features: vec![Feature::Numeric {
                name: "x".into(),
                mean: 0.0,
                std: 1.0,
                standardize: false,
            }],
            k: 2,
            centroids: vec![0.5, 10.5],
            sizes: vec![2, 2],
        })))
    }

    fn accumulator() -> Box<dyn Accumulator> {
        ModelQuality::new()
            .bind(vec![bound()])
            .unwrap()
            .accumulator(AccumulatorArgs {
                return_field: Arc::new(Field::new("q", DataType::Null, true)),
                schema: &datafusion::arrow::datatypes::Schema::empty(),
                ignore_nulls: false,
                order_bys: &[],
                is_reversed: false,
                name: "q",
                is_distinct: false,
                exprs: &[],
                expr_fields: &[],
            })
            .unwrap()
    }

    fn batch(x: &[f64]) -> Vec<ArrayRef> {
        vec![
            Arc::new(StringArray::from(vec!["m"; x.len()])),
            Arc::new(Float64Array::from(x.to_vec())),
        ]
    }

    fn fields(value: ScalarValue) -> (i64, Vec<Option<f64>>, i64) {
        let ScalarValue::Struct(s) = value else {
            panic!("{value:?}")
        };
        let f = |i: usize| {
            let c = s.column(i).as_primitive::<Float64Type>();
            (!c.is_null(0)).then(|| c.value(0))
        };
        let int = |i: usize| {
            s.column(i)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0)
        };
        (int(0), vec![f(1), f(2), f(3)], int(4))
    }

    /// The hand-computed line of metrics.rs: {0, 1} and {10, 11} around
    /// 0.5 and 10.5 give msd 0.25, Davies–Bouldin 0.1 and silhouette
    /// (9.5/10.5 + 8.5/9.5)/2, in one batch or merged from two partitions.
    #[test]
    fn metrics_on_a_line_streamed_and_merged() {
        let want = [0.25, 0.1, (9.5 / 10.5 + 8.5 / 9.5) / 2.0];
        let mut one = accumulator();
        one.update_batch(&batch(&[0.0, 1.0, 10.0, 11.0])).unwrap();
        let mut a = accumulator();
        a.update_batch(&batch(&[11.0, 0.0])).unwrap();
        let mut b = accumulator();
        b.update_batch(&batch(&[10.0])).unwrap();
        b.update_batch(&batch(&[1.0])).unwrap();
        let state: Vec<ArrayRef> = b
            .state()
            .unwrap()
            .into_iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        a.merge_batch(&state).unwrap();
        for acc in [&mut one, &mut a] {
            let (rows, metrics, sample) = fields(acc.evaluate().unwrap());
            assert_eq!((rows, sample), (4, 4));
            for (got, want) in metrics.iter().zip(want) {
                assert!((got.unwrap() - want).abs() < 1e-12, "{got:?} vs {want}");
            }
        }
    }

    /// More rows than the sample: the same rows in another order, split
    /// differently, keep the same sample and so the same silhouette.
    #[test]
    fn the_sample_ignores_row_order() {
        let xs: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 5003) as f64 / 250.0)
            .collect();
        let mut forward = accumulator();
        for chunk in xs.chunks(999) {
            forward.update_batch(&batch(chunk)).unwrap();
        }
        let mut reversed: Vec<f64> = xs.clone();
        reversed.reverse();
        let mut left = accumulator();
        left.update_batch(&batch(&reversed[..1234])).unwrap();
        let mut right = accumulator();
        right.update_batch(&batch(&reversed[1234..])).unwrap();
        let state: Vec<ArrayRef> = right
            .state()
            .unwrap()
            .into_iter()
            .map(|s| s.to_array().unwrap())
            .collect();
        left.merge_batch(&state).unwrap();
        let (r1, m1, s1) = fields(forward.evaluate().unwrap());
        let (r2, m2, s2) = fields(left.evaluate().unwrap());
        assert_eq!((r1, s1), (5000, SAMPLE as i64));
        assert_eq!((r2, s2), (5000, SAMPLE as i64));
        assert_eq!(m1[2], m2[2]);
        assert!((m1[0].unwrap() - m2[0].unwrap()).abs() < 1e-9);
    }

    #[test]
    fn no_rows_gives_nulls() {
        let (rows, metrics, sample) = fields(accumulator().evaluate().unwrap());
        assert_eq!((rows, sample), (0, 0));
        assert!(metrics.iter().all(Option::is_none));
    }
}
