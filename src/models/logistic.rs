//! `CREATE MODEL … OPTIONS (model_type 'logistic_reg', input_label_cols
//! ['churned'], …)`: a binary classifier on the training query's rows.
//!
//! The rows are held once in memory (counted in the engine's pool, like
//! k-means), split into training and evaluation rows, encoded as k-means
//! encodes (NULL numbers → training mean, z-scored with the training rows'
//! mean and population std; text and booleans one-hot), sorted canonically
//! (so the fit does not depend on the order the query delivered them in),
//! and fitted by Newton's method in `microseg_kernels::logistic`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::dataframe::DataFrame;
use datafusion::execution::memory_pool::MemoryConsumer;
use futures::StreamExt;
use microseg_udfs::model::classification::binary_metrics;
use microseg_udfs::model::logistic::{self, LogisticOptions, sigmoid};
use microseg_udfs::model::{Feature, dims, encode};

use super::logistic_options::{LogisticSettings, Split};
use super::{ColumnStats, usage};
use crate::catalog::{LabelMeta, ModelMeta, StoredModel};
use crate::error::Result;
use crate::statements::OptionValue;

fn df(e: datafusion::arrow::error::ArrowError) -> crate::error::Error {
    datafusion::error::DataFusionError::from(e).into()
}

/// Trains a logistic-regression model.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let settings = LogisticSettings::from_options(name, options)?;
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
    let feature_indices: Vec<usize> = (0..schema.fields().len())
        .filter(|i| *i != label_index && Some(*i) != split_index)
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
                                "label column {} is not binary: it has more than two values ({}, …); logistic_reg needs two classes",
                                settings.label,
                                values.join(", ")
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
    let positive = positive_class(name, &settings, &label_type, &values)?;
    let labels: Vec<bool> = class_of.iter().map(|&c| c as usize == positive).collect();
    drop(class_of);
    let classes = [values[1 - positive].clone(), values[positive].clone()];

    // Which rows evaluate.
    let eval = eval_rows(name, &settings, &batches, split_index, n)?;
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
        .map(|s| s.feature(name, true))
        .collect::<Result<_>>()?;
    let d = dims(&features);
    reservation.try_grow(n * d * size_of::<f64>())?;
    let mut encoded: Vec<f64> = Vec::with_capacity(n * d);
    for batch in &batches {
        let columns: Vec<ArrayRef> = feature_indices
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        encode(&features, &columns, batch.num_rows(), &mut encoded)?;
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

    // The training rows in canonical order (by encoded values, then label).
    let mut order: Vec<usize> = (0..n).filter(|&i| !eval[i]).collect();
    let row = |i: usize| &encoded[i * d..(i + 1) * d];
    order.sort_unstable_by(|&a, &b| {
        row(a)
            .iter()
            .zip(row(b))
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(labels[a].cmp(&labels[b]))
    });
    reservation.try_grow(train_count * (d * size_of::<f64>() + 9))?;
    let mut x = Vec::with_capacity(train_count * d);
    for &i in &order {
        x.extend_from_slice(row(i));
    }
    let y: Vec<bool> = order.iter().map(|&i| labels[i]).collect();
    let s: Vec<f64> = y.iter().map(|&l| weights[usize::from(l)]).collect();
    let fit_options = LogisticOptions {
        l2: settings.l2,
        max_iterations: settings.max_iterations,
        tolerance: 1e-10,
        threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
    };
    let fit = tokio::task::spawn_blocking(move || logistic::fit(&x, &y, &s, d, &fit_options))
        .await
        .map_err(|e| usage(name, format!("training failed: {e}")))?
        .map_err(|e| usage(name, e))?;
    let offset = -(weights[1] / weights[0]).ln();

    // Metrics on the training and evaluation rows, calibrated probabilities.
    let mut metrics = BTreeMap::new();
    let b = fit.intercept + offset;
    let p: Vec<f64> = (0..n)
        .map(|i| {
            sigmoid(
                b + row(i)
                    .iter()
                    .zip(&fit.coefficients)
                    .map(|(x, w)| x * w)
                    .sum::<f64>(),
            )
        })
        .collect();
    for (prefix, is_eval) in [("train", false), ("eval", true)] {
        let (scores, truth): (Vec<f64>, Vec<bool>) = (0..n)
            .filter(|&i| eval[i] == is_eval)
            .map(|i| (p[i], labels[i]))
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
    metrics.insert("objective".into(), fit.objective);
    metrics.insert("gradient_norm".into(), fit.gradient_norm);
    let mut parameters = BTreeMap::new();
    parameters.insert("intercept".into(), fit.intercept);
    parameters.insert("offset".into(), offset);
    let mut resolved = settings.resolved();
    if settings.auto_class_weights {
        resolved.insert(
            "class_weights".into(),
            format!("[{}, {}]", weights[0], weights[1]),
        );
    }
    Ok(StoredModel {
        meta: ModelMeta {
            name: name.to_string(),
            version,
            model_type: "logistic_reg".into(),
            options: resolved,
            query: query.to_string(),
            features,
            rows: n as u64,
            k: 1,
            iterations: fit.iterations,
            converged: fit.converged,
            training_seconds: started.elapsed().as_secs_f64(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            metrics,
            parameters,
            label: Some(LabelMeta {
                column: settings.label.clone(),
                classes,
            }),
        },
        centroids: fit.coefficients,
        sizes: vec![train_count as u64],
        recommender: None,
    })
}

/// The index in `values` (two label values as text) of the positive class:
/// `positive_label` when given; else true for booleans, the larger number
/// for numbers, the later text in sort order otherwise.
fn positive_class(
    model: &str,
    settings: &LogisticSettings,
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
    settings: &LogisticSettings,
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
