//! What every classifier's training shares: the rows held once in memory
//! (counted in the engine's pool), the label checked (two classes, no
//! NULL) and its positive class chosen, the split into training and
//! evaluation rows, the features' statistics from the training rows, every
//! row encoded (for logistic regression as k-means encodes: NULL → mean,
//! z-scored; for trees raw with NULL missing; text and booleans one-hot),
//! class weights, the rows sorted canonically, and the metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::dataframe::DataFrame;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use futures::StreamExt;
use microseg_udfs::model::boosted::encode_missing;
use microseg_udfs::model::classification::binary_metrics;
use microseg_udfs::model::{Feature, dims, encode};

use super::classifier_options::{ClassifierSettings, Split};
use super::{ColumnStats, usage};
use crate::catalog::{LabelMeta, ModelMeta};
use crate::error::Result;

fn df(e: datafusion::arrow::error::ArrowError) -> crate::error::Error {
    datafusion::error::DataFusionError::from(e).into()
}

/// Rows ready to fit: row-major features, labels, weights.
#[derive(Default)]
pub(super) struct Rows {
    /// Row-major, `d` a row.
    pub x: Vec<f64>,
    /// Whether each row is positive.
    pub y: Vec<bool>,
    /// Each row's class weight.
    pub s: Vec<f64>,
}

/// A classifier's training data, prepared.
pub(super) struct Prepared {
    /// How each input column is encoded.
    pub features: Vec<Feature>,
    /// Encoded dimensions.
    pub d: usize,
    /// Every row encoded, in the query's order.
    pub encoded: Vec<f64>,
    /// Whether each row is positive, in the query's order.
    pub labels: Vec<bool>,
    /// Whether each row evaluates rather than trains.
    pub eval: Vec<bool>,
    /// [negative, positive] label values as text.
    pub classes: [String; 2],
    /// [negative, positive] class weights.
    pub weights: [f64; 2],
    /// The training rows, canonically ordered.
    pub train: Rows,
    /// The evaluation rows, canonically ordered.
    pub evaluation: Rows,
    /// Whether each row was treated, in the query's order (uplift models;
    /// empty otherwise).
    pub treated: Vec<bool>,
    /// The treatment column's values as text: [control, treated].
    pub arms: [String; 2],
    /// The memory held, in the engine's pool.
    pub reservation: MemoryReservation,
}

/// An uplift model's treatment column and the value that marks the
/// treated rows.
pub(super) struct Treatment<'a> {
    /// `treatment_col`.
    pub column: &'a str,
    /// `treatment_value`.
    pub value: &'a str,
}

impl Prepared {
    /// Encoded row `i` (query order).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.encoded[i * self.d..(i + 1) * self.d]
    }

    /// Training rows.
    pub fn train_count(&self) -> usize {
        self.train.y.len()
    }

    /// `train_…` and `eval_…` metrics of the calibrated probabilities `p`
    /// (one per row, query order).
    pub fn metrics(&self, name: &str, p: &[f64]) -> Result<BTreeMap<String, f64>> {
        let mut metrics = BTreeMap::new();
        for (prefix, is_eval) in [("train", false), ("eval", true)] {
            let (scores, truth): (Vec<f64>, Vec<bool>) = (0..p.len())
                .filter(|&i| self.eval[i] == is_eval)
                .map(|i| (p[i], self.labels[i]))
                .unzip();
            metrics.insert(format!("{prefix}_rows"), scores.len() as f64);
            if scores.is_empty() {
                continue;
            }
            let m = binary_metrics(&scores, &truth, 0.5).map_err(|e| usage(name, e))?;
            for (key, value) in [
                ("roc_auc", m.roc_auc),
                ("pr_auc", m.pr_auc),
                ("log_loss", m.log_loss),
                ("brier", m.brier),
                ("accuracy", m.accuracy),
                ("precision", m.precision),
                ("recall", m.recall),
                ("f1", m.f1),
            ] {
                if value.is_finite() {
                    metrics.insert(format!("{prefix}_{key}"), value);
                }
            }
        }
        Ok(metrics)
    }

    /// The model's metadata: what every classifier records.
    #[allow(clippy::too_many_arguments)]
    pub fn meta(
        &self,
        name: &str,
        version: u32,
        settings: &ClassifierSettings,
        query: &str,
        started: Instant,
        (iterations, converged): (u32, bool),
        metrics: BTreeMap<String, f64>,
        parameters: BTreeMap<String, f64>,
    ) -> ModelMeta {
        let mut options = settings.resolved();
        if settings.auto_class_weights {
            options.insert(
                "class_weights".into(),
                format!("[{}, {}]", self.weights[0], self.weights[1]),
            );
        }
        ModelMeta {
            name: name.to_string(),
            version,
            model_type: settings.model_type.into(),
            options,
            query: query.to_string(),
            features: self.features.clone(),
            rows: self.labels.len() as u64,
            k: 1,
            iterations,
            converged,
            training_seconds: started.elapsed().as_secs_f64(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            metrics,
            parameters,
            label: Some(LabelMeta {
                column: settings.label.clone(),
                classes: self.classes.clone(),
            }),
        }
    }

    /// −ln(w₁/w₀): added to the logit, it undoes the class weights.
    pub fn offset(&self) -> f64 {
        -(self.weights[1] / self.weights[0]).ln()
    }
}

/// Reads, checks, splits and encodes `training` for a classifier named
/// `name`; `trees` keeps numbers raw with NULL missing; `treatment` (an
/// uplift model's) is read into [`Prepared::treated`], not a feature.
pub(super) async fn prepare(
    name: &str,
    settings: &ClassifierSettings,
    training: DataFrame,
    trees: bool,
    treatment: Option<Treatment<'_>>,
) -> Result<Prepared> {
    let schema = training.schema().as_arrow().clone();
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let find = |column: &str, what: &str| {
        schema.index_of(column).map_err(|_| {
            usage(
                name,
                format!(
                    "the training query has no column {column} ({what}; columns: {})",
                    columns.join(", ")
                ),
            )
        })
    };
    let label_index = find(
        &settings.label,
        "the label: name it with input_label_cols ['…']",
    )?;
    let split_index = match &settings.split {
        Split::Seq(column, _) => Some(find(column, "data_split_col")?),
        _ => None,
    };
    let treatment_index = match &treatment {
        Some(t) => Some(find(
            t.column,
            "the treatment: name it with treatment_col '…'",
        )?),
        None => None,
    };
    let feature_indices: Vec<usize> = (0..schema.fields().len())
        .filter(|i| *i != label_index && Some(*i) != split_index && Some(*i) != treatment_index)
        .collect();
    if feature_indices.is_empty() {
        return Err(usage(
            name,
            format!(
                "the training query has no feature columns besides the label {}",
                settings.label
            ),
        ));
    }
    let mut stats: Vec<ColumnStats> = feature_indices
        .iter()
        .map(|&i| {
            let f = schema.field(i);
            ColumnStats::new(name, f.name(), f.data_type())
        })
        .collect::<Result<_>>()?;

    // The rows, held once, counted in the pool: over the cap is
    // "Resources exhausted", before anything is fitted or stored.
    let pool = Arc::clone(training.task_ctx().memory_pool());
    let reservation = MemoryConsumer::new(format!("CREATE MODEL {name}")).register(&pool);
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut stream = training.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        reservation.try_grow(batch.get_array_memory_size())?;
        batches.push(batch);
    }
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if n == 0 {
        return Err(usage(name, "the training query returns no rows"));
    }
    reservation.try_grow(n * 2)?;

    // Labels: exactly two distinct values, none NULL.
    let label_type = schema.field(label_index).data_type().clone();
    let mut values: Vec<String> = Vec::new();
    let mut class_of: Vec<u8> = Vec::with_capacity(n);
    for batch in &batches {
        let text = cast(batch.column(label_index), &DataType::Utf8).map_err(df)?;
        let text = text.as_string::<i32>();
        for i in 0..text.len() {
            if text.is_null(i) {
                return Err(usage(
                    name,
                    format!(
                        "label column {} is NULL in a training row: filter unlabelled rows out",
                        settings.label
                    ),
                ));
            }
            let v = text.value(i);
            let class = match values.iter().position(|x| x == v) {
                Some(c) => c,
                None => {
                    values.push(v.to_string());
                    if values.len() > 2 {
                        values.sort();
                        return Err(usage(
                            name,
                            format!(
                                "label column {} is not binary: it has more than two values ({}, …); {} needs two classes",
                                settings.label,
                                values.join(", "),
                                settings.model_type
                            ),
                        ));
                    }
                    values.len() - 1
                }
            };
            class_of.push(class as u8);
        }
    }
    if values.len() < 2 {
        return Err(usage(
            name,
            format!(
                "label column {} has a single class ({}) in the training rows: a classifier needs both",
                settings.label, values[0]
            ),
        ));
    }
    let positive = positive_class(name, settings, &label_type, &values)?;
    let labels: Vec<bool> = class_of.iter().map(|&c| c as usize == positive).collect();
    drop(class_of);
    let classes = [values[1 - positive].clone(), values[positive].clone()];

    let (treated, arms) = match (&treatment, treatment_index) {
        (Some(t), Some(index)) => arms(name, t, &batches, index)?,
        _ => (Vec::new(), [String::new(), String::new()]),
    };

    // Which rows evaluate.
    let eval = eval_rows(name, settings, &batches, split_index, n)?;
    let train_count = eval.iter().filter(|e| !**e).count();
    if train_count == 0 {
        return Err(usage(name, "the split leaves no training rows"));
    }

    // Statistics of the training rows, then every row encoded.
    let mut offset = 0;
    for batch in &batches {
        let keep = BooleanArray::from_iter(
            eval[offset..offset + batch.num_rows()]
                .iter()
                .map(|e| Some(!e)),
        );
        for (s, &i) in stats.iter_mut().zip(&feature_indices) {
            s.add(name, &filter(batch.column(i), &keep).map_err(df)?)?;
        }
        offset += batch.num_rows();
    }
    let features: Vec<Feature> = stats
        .into_iter()
        .map(|s| s.feature(name, !trees))
        .collect::<Result<_>>()?;
    let d = dims(&features);
    reservation.try_grow(n * d * size_of::<f64>())?;
    let mut encoded: Vec<f64> = Vec::with_capacity(n * d);
    for batch in &batches {
        let columns: Vec<ArrayRef> = feature_indices
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        if trees {
            encode_missing(&features, &columns, batch.num_rows(), &mut encoded)?;
        } else {
            encode(&features, &columns, batch.num_rows(), &mut encoded)?;
        }
    }
    drop(batches);

    // Class weights, from the training rows.
    let positives = (0..n).filter(|&i| !eval[i] && labels[i]).count();
    let negatives = train_count - positives;
    if positives == 0 || negatives == 0 {
        return Err(usage(
            name,
            format!(
                "the training rows (after the split) hold a single class of {}: a classifier needs both",
                settings.label
            ),
        ));
    }
    let weights = if settings.auto_class_weights {
        [
            train_count as f64 / (2.0 * negatives as f64),
            train_count as f64 / (2.0 * positives as f64),
        ]
    } else {
        settings.class_weights.unwrap_or([1.0, 1.0])
    };

    reservation.try_grow(n * (d * size_of::<f64>() + 9))?;
    let train = canonical(&encoded, d, &labels, &weights, |i| !eval[i]);
    let evaluation = canonical(&encoded, d, &labels, &weights, |i| eval[i]);
    Ok(Prepared {
        features,
        d,
        encoded,
        labels,
        eval,
        classes,
        weights,
        train,
        evaluation,
        treated,
        arms,
        reservation,
    })
}

/// Whether each row is treated, and the arms' values [control, treated]:
/// the column must hold `treatment.value` and exactly one other value,
/// never NULL.
fn arms(
    name: &str,
    treatment: &Treatment<'_>,
    batches: &[RecordBatch],
    index: usize,
) -> Result<(Vec<bool>, [String; 2])> {
    let column = treatment.column;
    let mut values: Vec<String> = Vec::new();
    let mut treated = Vec::new();
    for batch in batches {
        let text = cast(batch.column(index), &DataType::Utf8).map_err(df)?;
        let text = text.as_string::<i32>();
        for i in 0..text.len() {
            if text.is_null(i) {
                return Err(usage(
                    name,
                    format!(
                        "treatment_col {column} is NULL in a training row: filter those rows out"
                    ),
                ));
            }
            let v = text.value(i);
            if !values.iter().any(|x| x == v) {
                values.push(v.to_string());
                if values.len() > 2 {
                    values.sort();
                    return Err(usage(
                        name,
                        format!(
                            "treatment_col {column} has more than two values ({}, …): uplift compares one treatment with one control",
                            values.join(", ")
                        ),
                    ));
                }
            }
            treated.push(v == treatment.value);
        }
    }
    values.sort();
    if !values.iter().any(|v| v == treatment.value) {
        return Err(usage(
            name,
            format!(
                "option treatment_value '{}' is not a value of treatment_col {column} (its values: {})",
                treatment.value,
                values.join(", ")
            ),
        ));
    }
    let Some(control) = values.iter().find(|v| *v != treatment.value) else {
        return Err(usage(
            name,
            format!(
                "treatment_col {column} has a single arm ({}): uplift needs treated and control rows",
                treatment.value
            ),
        ));
    };
    Ok((treated, [control.clone(), treatment.value.to_string()]))
}

/// The rows `keep` selects in canonical order (by encoded values, then
/// label): a fit on them does not depend on the order the query delivered
/// the rows in.
pub(super) fn canonical(
    encoded: &[f64],
    d: usize,
    labels: &[bool],
    weights: &[f64; 2],
    keep: impl Fn(usize) -> bool,
) -> Rows {
    let row = |i: usize| &encoded[i * d..(i + 1) * d];
    let mut order: Vec<usize> = (0..labels.len()).filter(|&i| keep(i)).collect();
    order.sort_unstable_by(|&a, &b| {
        row(a)
            .iter()
            .zip(row(b))
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(labels[a].cmp(&labels[b]))
    });
    let mut x = Vec::with_capacity(order.len() * d);
    for &i in &order {
        x.extend_from_slice(row(i));
    }
    let y: Vec<bool> = order.iter().map(|&i| labels[i]).collect();
    let s: Vec<f64> = y.iter().map(|&l| weights[usize::from(l)]).collect();
    Rows { x, y, s }
}

/// The index in `values` (two label values as text) of the positive class:
/// `positive_label` when given; else true for booleans, the larger number
/// for numbers, the later text in sort order otherwise.
fn positive_class(
    model: &str,
    settings: &ClassifierSettings,
    label_type: &DataType,
    values: &[String],
) -> Result<usize> {
    if let Some(wanted) = &settings.positive_label {
        return values.iter().position(|v| v == wanted).ok_or_else(|| {
            usage(
                model,
                format!(
                    "option positive_label '{wanted}' is not a value of label column {} ({} and {})",
                    settings.label, values[0], values[1]
                ),
            )
        });
    }
    if label_type.is_numeric() {
        let a: f64 = values[0].parse().unwrap_or(f64::NAN);
        let b: f64 = values[1].parse().unwrap_or(f64::NAN);
        return Ok(usize::from(b > a));
    }
    Ok(usize::from(values[1] > values[0]))
}

/// splitmix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether each row evaluates rather than trains.
fn eval_rows(
    name: &str,
    settings: &ClassifierSettings,
    batches: &[RecordBatch],
    split_index: Option<usize>,
    n: usize,
) -> Result<Vec<bool>> {
    let split = match &settings.split {
        Split::Auto if n < 500 => Split::None,
        Split::Auto if n <= 50_000 => Split::Random(0.2),
        Split::Auto => Split::Random(10_000.0 / n as f64),
        other => other.clone(),
    };
    match split {
        Split::None | Split::Auto => Ok(vec![false; n]),
        Split::Random(fraction) => {
            // A seeded hash of the row's values (as text): the same rows
            // evaluate whatever order the query delivers them in.
            let mut hashes = vec![mix(settings.seed); n];
            let mut offset = 0;
            for batch in batches {
                for column in batch.columns() {
                    let text = cast(column, &DataType::Utf8).map_err(df)?;
                    let text = text.as_string::<i32>();
                    for i in 0..text.len() {
                        let h = &mut hashes[offset + i];
                        let bytes: &[u8] = if text.is_null(i) {
                            &[0xff]
                        } else {
                            text.value(i).as_bytes()
                        };
                        for &byte in bytes {
                            *h = (*h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
                        }
                        *h = mix(*h ^ 0x9e37_79b9_7f4a_7c15);
                    }
                }
                offset += batch.num_rows();
            }
            let cut = fraction * 2f64.powi(64);
            Ok(hashes.into_iter().map(|h| (h as f64) < cut).collect())
        }
        Split::Seq(column, fraction) => {
            let index = split_index.unwrap_or(0);
            let mut keys = Vec::with_capacity(n);
            for batch in batches {
                let c = batch.column(index);
                let c = if c.data_type().is_temporal() {
                    cast(c, &DataType::Int64).map_err(df)?
                } else {
                    Arc::clone(c)
                };
                let c = cast(&c, &DataType::Float64).map_err(|e| {
                    usage(
                        name,
                        format!(
                            "data_split_col {column} cannot be ordered as a number or time: {e}"
                        ),
                    )
                })?;
                let c = c.as_primitive::<Float64Type>();
                if c.null_count() > 0 {
                    return Err(usage(
                        name,
                        format!("data_split_col {column} is NULL in a training row"),
                    ));
                }
                keys.extend(c.values().iter().copied());
            }
            let mut sorted = keys.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let at = ((1.0 - fraction) * n as f64).floor() as usize;
            let cut = sorted[at.min(n - 1)];
            Ok(keys.into_iter().map(|k| k >= cut).collect())
        }
    }
}
