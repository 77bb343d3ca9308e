//! Training models from SQL (`CREATE MODEL`), describing them, and the
//! `model_centroids` table function. Applying functions are bound to their
//! models by the analyzer rule in `planning`; `lookalike` and
//! `model_evaluate` are table functions in `tables`.

mod boosted;
mod centroids;
mod classifier;
mod classifier_options;
mod clv;
mod importance;
mod logistic;
mod options;
mod recommender;
mod recommender_options;
mod uplift;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::dataframe::DataFrame;
use datafusion::execution::memory_pool::MemoryConsumer;
use futures::StreamExt;
use microseg_udfs::model::exact::ExactMoments;
use microseg_udfs::model::kmeans::{self, KMeansOptions};
use microseg_udfs::model::{Feature, encode, is_categorical};

pub use centroids::ModelCentroidsFunction;
pub use importance::FeatureImportanceFunction;

/// The SQL name of `model_feature_importance`.
pub fn importance_name() -> &'static str {
    importance::NAME
}

/// The SQL name of `model_centroids`.
pub fn centroids_name() -> &'static str {
    centroids::NAME
}
pub use options::KMeansSettings;

use crate::catalog::{ModelMeta, StoredModel};
use crate::error::{Error, Result};
use crate::statements::OptionValue;

/// Most categories one text column may contribute: beyond this it is an
/// identifier, not a category, and one-hot encoding would explode.
const MAX_CATEGORIES: usize = 1000;

/// Trains a model from `training` (the query's rows, not yet run).
/// `previous` is the model's latest version, if any: a k-means model on the
/// same columns numbers its clusters to match it.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
    previous: Option<&StoredModel>,
) -> Result<StoredModel> {
    let started = Instant::now();
    match options.get("model_type") {
        Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("bgnbd") => {
            return clv::train(name, version, "bgnbd", options, query, training).await;
        }
        Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("gamma_gamma") => {
            return clv::train(name, version, "gamma_gamma", options, query, training).await;
        }
        Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("logistic_reg") => {
            return logistic::train(name, version, options, query, training).await;
        }
        Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case(crate::catalog::models::BOOSTED) => {
            return boosted::train(name, version, options, query, training).await;
        }
        Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case(crate::catalog::models::UPLIFT) => {
            return uplift::train(name, version, options, query, training).await;
        }
        Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("recommender") => {
            return recommender::train(name, version, options, query, training).await;
        }
        _ => {}
    }
    let settings = KMeansSettings::from_options(name, options)?;
    let schema = training.schema().as_arrow().clone();
    if schema.fields().is_empty() {
        return Err(usage(name, "the training query returns no columns"));
    }
    // Pass 1: per-column statistics (means, spreads, categories).
    let mut stats: Vec<ColumnStats> = schema
        .fields()
        .iter()
        .map(|f| ColumnStats::new(name, f.name(), f.data_type()))
        .collect::<Result<_>>()?;
    let mut stream = training.clone().execute_stream().await?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        for (s, column) in stats.iter_mut().zip(batch.columns()) {
            s.add(name, column)?;
        }
    }
    if rows == 0 {
        return Err(usage(name, "the training query returns no rows"));
    }
    let features: Vec<Feature> = stats
        .into_iter()
        .map(|s| s.feature(name, settings.standardize))
        .collect::<Result<_>>()?;
    // Pass 2: encode every row (n × d f32: the memory training needs),
    // counted in the session's memory pool like an operator's buffers, so a
    // training larger than the limit fails with "Resources exhausted"
    // instead of growing outside it.
    let dims = microseg_udfs::model::dims(&features);
    let pool = Arc::clone(training.task_ctx().memory_pool());
    let reservation = MemoryConsumer::new(format!("CREATE MODEL {name}")).register(&pool);
    let mut data: Vec<f32> = Vec::new();
    let mut stream = training.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        reservation.try_grow(batch.num_rows() * dims * size_of::<f32>())?;
        encode(&features, batch.columns(), batch.num_rows(), &mut data)?;
    }
    let n = data.len() / dims.max(1);
    // Fitting sorts the rows (a key and an index, 16 bytes a row), then
    // Lloyd keeps an assignment and bounds (24 bytes a row).
    reservation.try_grow(n * 32)?;
    // Only whether there are at least k distinct rows matters: stop there.
    let mut seen = HashSet::new();
    for row in data.chunks_exact(dims) {
        seen.insert(row.iter().map(|x| x.to_bits()).collect::<Vec<u32>>());
        if seen.len() >= settings.num_clusters {
            break;
        }
    }
    let distinct = seen.len();
    drop(seen);
    if settings.num_clusters > distinct {
        return Err(usage(
            name,
            format!(
                "num_clusters {} is more than the {distinct} distinct rows of the training data",
                settings.num_clusters
            ),
        ));
    }
    let kmeans_options = KMeansOptions {
        k: settings.num_clusters,
        max_iterations: settings.max_iterations,
        tolerance: settings.tolerance,
        seed: settings.seed,
        n_init: settings.n_init,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        init: settings.init,
        batch_size: settings.batch_size,
    };
    let fit = tokio::task::spawn_blocking(move || {
        let mut data = data;
        // Sorts the rows first: the model does not depend on the order the
        // query delivered them in.
        kmeans::fit(&mut data, dims, &kmeans_options)
    })
    .await
    .map_err(|e| usage(name, format!("training failed: {e}")))?;
    let fit = fit.map_err(|e| usage(name, e.to_string()))?;
    // A new version of a model keeps the ids of the clusters it shares with
    // the version before (nearest centroids), so ids compare over time.
    let fit = match previous.and_then(|p| previous_centroids(p, &features)) {
        Some(earlier) => kmeans::align_to(fit, dims, &earlier),
        None => fit,
    };
    let mut metrics = BTreeMap::new();
    metrics.insert("mean_squared_distance".into(), fit.inertia / n as f64);
    metrics.insert("inertia".into(), fit.inertia);
    // From the fit's last assignment (each cluster's spread): no second
    // pass over the rows.
    metrics.insert("davies_bouldin".into(), fit.davies_bouldin(dims));
    let mut resolved = settings.resolved();
    // What 'auto' chose (seeding, runs), for DESCRIBE MODEL.
    resolved.insert("init".into(), fit.init.name().into());
    resolved.insert("n_init".into(), fit.n_init.to_string());
    let meta = ModelMeta {
        name: name.to_string(),
        version,
        model_type: "kmeans".into(),
        options: resolved,
        query: query.to_string(),
        features,
        rows,
        k: settings.num_clusters,
        iterations: fit.iterations,
        converged: fit.converged,
        training_seconds: started.elapsed().as_secs_f64(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        metrics,
        parameters: BTreeMap::new(),
        label: None,
    };
    Ok(StoredModel {
        meta,
        centroids: fit.centroids,
        sizes: fit.sizes,
        trees: None,
        recommender: None,
        linkage: None,
    })
}

/// The centroids of `previous` moved into the encoded space of `features`,
/// when it is a k-means model on the same columns (same names and kinds, in
/// the same order), else `None`. Numeric coordinates go back to original
/// units with the earlier mean and std and forward with the new ones;
/// one-hot coordinates follow their category by value (a category only one
/// version has is 0 in the other), so a retrain whose scaling or category
/// list changed still compares like with like.
fn previous_centroids(previous: &StoredModel, features: &[Feature]) -> Option<Vec<f64>> {
    if previous.meta.model_type != "kmeans" || previous.meta.features.len() != features.len() {
        return None;
    }
    let old_dims = microseg_udfs::model::dims(&previous.meta.features);
    if old_dims == 0 || previous.centroids.len() != previous.meta.k * old_dims {
        return None;
    }
    let mut out = Vec::with_capacity(previous.meta.k * microseg_udfs::model::dims(features));
    for centroid in previous.centroids.chunks_exact(old_dims) {
        let mut offset = 0;
        for (old, new) in previous.meta.features.iter().zip(features) {
            if old.name() != new.name() {
                return None;
            }
            let values = &centroid[offset..offset + old.dims()];
            match (old, new) {
                (
                    Feature::Numeric {
                        mean,
                        std,
                        standardize,
                        ..
                    },
                    Feature::Numeric {
                        mean: new_mean,
                        std: new_std,
                        standardize: new_standardize,
                        ..
                    },
                ) => {
                    let raw = if *standardize {
                        mean + values[0] * std
                    } else {
                        values[0]
                    };
                    out.push(if *new_standardize {
                        (raw - new_mean) / new_std
                    } else {
                        raw
                    });
                }
                (
                    Feature::Categorical { categories, .. },
                    Feature::Categorical {
                        categories: new_categories,
                        ..
                    },
                ) => {
                    for category in new_categories {
                        out.push(
                            categories
                                .iter()
                                .position(|c| c == category)
                                .map_or(0.0, |i| values[i]),
                        );
                    }
                }
                _ => return None,
            }
            offset += old.dims();
        }
    }
    Some(out)
}

pub(super) fn usage(model: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("CREATE MODEL {model}: {message}"))
}

/// What pass 1 learns about one training column.
pub(super) enum ColumnStats {
    Numeric {
        name: String,
        /// Exact sums: the statistics do not depend on row order.
        moments: ExactMoments,
    },
    Categorical {
        name: String,
        categories: BTreeSet<Option<String>>,
    },
}

impl ColumnStats {
    pub(super) fn new(model: &str, name: &str, data_type: &DataType) -> Result<Self> {
        if is_categorical(data_type) {
            Ok(ColumnStats::Categorical {
                name: name.into(),
                categories: BTreeSet::new(),
            })
        } else if data_type.is_numeric() {
            Ok(ColumnStats::Numeric {
                name: name.into(),
                moments: ExactMoments::default(),
            })
        } else {
            Err(usage(
                model,
                format!(
                    "column {name} is {data_type}: features must be numeric (numbers) or categorical (text, boolean)"
                ),
            ))
        }
    }

    pub(super) fn add(&mut self, model: &str, column: &ArrayRef) -> Result<()> {
        match self {
            ColumnStats::Numeric { name, moments } => {
                let values = cast(column, &DataType::Float64)
                    .map_err(datafusion::error::DataFusionError::from)?;
                for x in values.as_primitive::<Float64Type>().iter().flatten() {
                    // NaN is not a missing value (that is NULL): it has no
                    // distance to anything, and infinity would make every
                    // mean and distance infinite. Refused, not guessed at.
                    if !x.is_finite() {
                        let what = if x.is_nan() { "NaN" } else { "infinite" };
                        return Err(usage(
                            model,
                            format!(
                                "column {name} has {what} values: models need finite numbers (filter those rows out, or turn the values into NULL, which is encoded as the column's mean)"
                            ),
                        ));
                    }
                    moments.add(x);
                }
            }
            ColumnStats::Categorical { name, categories } => {
                let text = cast(column, &DataType::Utf8)
                    .map_err(datafusion::error::DataFusionError::from)?;
                let text = text.as_string::<i32>();
                for row in 0..text.len() {
                    let value = (!text.is_null(row)).then(|| text.value(row));
                    if !categories.contains(&value.map(str::to_string)) {
                        categories.insert(value.map(str::to_string));
                        if categories.len() > MAX_CATEGORIES {
                            return Err(usage(
                                model,
                                format!(
                                    "column {name} has more than {MAX_CATEGORIES} distinct values: too many to one-hot encode (is it an identifier?)"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn feature(self, model: &str, standardize: bool) -> Result<Feature> {
        match self {
            ColumnStats::Numeric { name, moments } => {
                let (Some(mean), Some(std)) = (moments.mean(), moments.std()) else {
                    return Err(usage(model, format!("column {name} is NULL in every row")));
                };
                // Squares past 1e308 overflow (values beyond about 1e154).
                if !mean.is_finite() || !std.is_finite() {
                    return Err(usage(
                        model,
                        format!(
                            "column {name} has values too large to standardize (beyond about 1e154)"
                        ),
                    ));
                }
                Ok(Feature::Numeric {
                    name,
                    mean,
                    std: if std > 0.0 { std } else { 1.0 },
                    standardize,
                })
            }
            ColumnStats::Categorical { name, categories } => Ok(Feature::Categorical {
                name,
                categories: categories.into_iter().collect(),
            }),
        }
    }
}

/// `SHOW MODELS`: one row per model (its latest version).
pub fn show(models: &[ModelMeta]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&ModelMeta) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(models.iter().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Utf8, false),
        Field::new("model_type", DataType::Utf8, false),
        Field::new("features", DataType::Utf8, false),
        Field::new("rows", DataType::Utf8, false),
        Field::new("created_at", DataType::Utf8, false),
    ]));
    let columns = vec![
        text(&|m| m.name.clone()),
        text(&|m| m.version.to_string()),
        text(&|m| m.model_type.clone()),
        text(&|m| {
            m.features
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        }),
        text(&|m| m.rows.to_string()),
        text(&|m| m.created_at.clone()),
    ];
    Ok(RecordBatch::try_new(schema, columns).map_err(datafusion::error::DataFusionError::from)?)
}

/// `DESCRIBE MODEL`: (property, value) rows.
pub fn describe(model: &StoredModel, versions: &[u32]) -> Result<RecordBatch> {
    let m = &model.meta;
    let mut rows: Vec<(String, String)> = vec![
        ("name".into(), m.name.clone()),
        ("version".into(), m.version.to_string()),
        (
            "versions".into(),
            versions
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("model_type".into(), m.model_type.clone()),
    ];
    for (key, value) in &m.options {
        rows.push((format!("option.{key}"), value.clone()));
    }
    for feature in &m.features {
        rows.push((format!("feature.{}", feature.name()), feature.describe()));
    }
    rows.extend([
        ("training_query".into(), m.query.clone()),
        ("rows".into(), m.rows.to_string()),
        ("iterations".into(), m.iterations.to_string()),
        ("converged".into(), m.converged.to_string()),
        (
            "training_seconds".into(),
            format!("{:.3}", m.training_seconds),
        ),
        ("created_at".into(), m.created_at.clone()),
    ]);
    if m.model_type == "kmeans" {
        rows.push((
            "cluster_sizes".into(),
            model
                .sizes
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if let Some(label) = &m.label {
        rows.push(("label".into(), label.column.clone()));
        rows.push(("positive_class".into(), label.classes[1].clone()));
        rows.push(("negative_class".into(), label.classes[0].clone()));
        if m.model_type == crate::catalog::models::UPLIFT {
            for key in [
                "learner",
                "base_model",
                "treatment_col",
                "treatment_value",
                "control_value",
            ] {
                if let Some(v) = m.options.get(key) {
                    rows.push((key.into(), v.clone()));
                }
            }
            if let Some(ensemble) = &model.trees {
                rows.push(("trees".into(), ensemble.trees.len().to_string()));
            }
        } else if let Some(ensemble) = &model.trees {
            rows.push(("trees".into(), ensemble.trees.len().to_string()));
            let leaves: Vec<usize> = ensemble.trees.iter().map(|t| t.leaves()).collect();
            rows.push(("leaves".into(), leaves.iter().sum::<usize>().to_string()));
            rows.push((
                "max_leaves_per_tree".into(),
                leaves.iter().max().copied().unwrap_or(0).to_string(),
            ));
        } else {
            rows.push(("coefficients".into(), model.centroids.len().to_string()));
            let names = microseg_udfs::model::classifier::dimension_names(&m.features);
            for (feature, value) in names.iter().zip(&model.centroids) {
                rows.push((format!("coefficient.{feature}"), format!("{value:.9}")));
            }
        }
    }
    for (key, value) in &m.parameters {
        rows.push((format!("parameter.{key}"), format!("{value:.9}")));
    }
    for (key, value) in &m.metrics {
        // Small values (a gradient norm) keep their digits.
        let shown = if *value != 0.0 && value.abs() < 1e-3 {
            format!("{value:.3e}")
        } else {
            format!("{value:.6}")
        };
        rows.push((format!("metric.{key}"), shown));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("property", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.1.as_str()),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns).map_err(datafusion::error::DataFusionError::from)?)
}
