//! `CREATE MODEL … OPTIONS (model_type 'bgnbd' | 'gamma_gamma')`: fitting
//! the lifetime-value models on rows such as `clv_summary` gives.

use std::collections::BTreeMap;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::dataframe::DataFrame;
use futures::StreamExt;
use microseg_udfs::model::clv::{fit_bgnbd, fit_gamma_gamma};

use crate::catalog::{ModelMeta, StoredModel};
use crate::error::{Error, Result};
use crate::statements::OptionValue;

fn err(model: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("CREATE MODEL {model}: {message}"))
}

/// Trains a BG/NBD (`frequency, recency, T`) or Gamma-Gamma
/// (`frequency, monetary_value`, repeat buyers only) model.
pub async fn train(
    name: &str,
    version: u32,
    model_type: &str,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let known = ["model_type", "penalizer", "period"];
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            return Err(err(
                name,
                format!(
                    "unknown option {key} (options for {model_type}: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let penalizer = match options.get("penalizer") {
        None => 0.0,
        Some(OptionValue::Number(n)) => n
            .parse::<f64>()
            .ok()
            .filter(|p| *p >= 0.0 && p.is_finite())
            .ok_or_else(|| {
                err(
                    name,
                    format!("option penalizer must be a number ≥ 0, got {n}"),
                )
            })?,
        Some(other) => {
            return Err(err(
                name,
                format!("option penalizer must be a number, got {other}"),
            ));
        }
    };
    let period = match options.get("period") {
        None => "day".to_string(),
        Some(OptionValue::Text(t)) if t == "day" || t == "week" => t.clone(),
        Some(other) => {
            return Err(err(
                name,
                format!("option period must be 'day' or 'week', got {other}"),
            ));
        }
    };
    let (columns, what) = if model_type == "bgnbd" {
        (3, "frequency, recency, T")
    } else {
        (2, "frequency, monetary_value")
    };
    let schema = training.schema().as_arrow().clone();
    if schema.fields().len() != columns
        || schema.fields().iter().any(|f| !f.data_type().is_numeric())
    {
        return Err(err(
            name,
            format!(
                "a {model_type} model trains on {columns} numeric columns ({what}), got {}",
                schema
                    .fields()
                    .iter()
                    .map(|f| format!("{} {}", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    // (frequency, recency or spend, T or unused, weight): the fits merge
    // identical rows into one weighted term themselves.
    let mut rows: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut stream = training.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let values: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Float64).map_err(datafusion::error::DataFusionError::from))
            .collect::<std::result::Result<_, _>>()?;
        let values: Vec<_> = values
            .iter()
            .map(|c| c.as_primitive::<Float64Type>())
            .collect();
        rows.reserve(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut key = [0.0; 3];
            for (i, (c, field)) in values.iter().zip(schema.fields()).enumerate() {
                if c.is_null(row) {
                    return Err(err(
                        name,
                        format!("column {} is NULL in a training row", field.name()),
                    ));
                }
                let v = c.value(row);
                if !v.is_finite() || v < 0.0 {
                    return Err(err(
                        name,
                        format!("column {} must be finite and ≥ 0, got {v}", field.name()),
                    ));
                }
                key[i] = v;
            }
            let x = key[0];
            if model_type == "bgnbd" {
                let (t_x, t) = (key[1], key[2]);
                if x.fract() != 0.0 || t_x > t || (x > 0.0 && t_x == 0.0) {
                    return Err(err(
                        name,
                        format!(
                            "row (frequency {x}, recency {t_x}, T {t}) is impossible: frequency is a whole number, recency ≤ T, and recency > 0 when frequency > 0"
                        ),
                    ));
                }
            } else if x <= 0.0 || key[1] <= 0.0 {
                return Err(err(
                    name,
                    "Gamma-Gamma needs repeat buyers with positive spend: add WHERE frequency > 0 AND monetary_value > 0",
                ));
            }
            rows.push((key[0], key[1], key[2], 1.0));
        }
    }
    if rows.is_empty() {
        return Err(err(name, "the training query returns no rows"));
    }
    let count = rows.len() as u64;
    let (fitted, keys) = if model_type == "bgnbd" {
        let fitted = tokio::task::spawn_blocking(move || fit_bgnbd(&rows, penalizer))
            .await
            .map_err(|e| err(name, e))?;
        (fitted, vec!["r", "alpha", "a", "b"])
    } else {
        let data: Vec<(f64, f64, f64)> = rows.iter().map(|r| (r.0, r.1, r.3)).collect();
        drop(rows);
        let fitted = tokio::task::spawn_blocking(move || fit_gamma_gamma(&data, penalizer))
            .await
            .map_err(|e| err(name, e))?;
        (fitted, vec!["p", "q", "v"])
    };
    let parameters: BTreeMap<String, f64> = keys
        .iter()
        .zip(&fitted.params)
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let mut metrics = BTreeMap::new();
    metrics.insert("mean_log_likelihood".into(), fitted.mean_log_likelihood);
    metrics.insert("distinct_rows".into(), fitted.distinct_rows as f64);
    metrics.insert("gradient_norm".into(), fitted.gradient_norm);
    metrics.insert("evaluations".into(), fitted.evaluations as f64);
    let mut resolved = BTreeMap::new();
    resolved.insert("model_type".into(), model_type.to_string());
    resolved.insert("penalizer".into(), penalizer.to_string());
    resolved.insert("period".into(), period);
    Ok(StoredModel {
        meta: ModelMeta {
            name: name.to_string(),
            version,
            model_type: model_type.to_string(),
            options: resolved,
            query: query.to_string(),
            features: vec![],
            rows: count,
            k: 0,
            iterations: fitted.iterations,
            converged: fitted.converged,
            training_seconds: started.elapsed().as_secs_f64(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            metrics,
            parameters,
            label: None,
        },
        centroids: vec![],
        sizes: vec![],
        trees: None,
        recommender: None,
        linkage: None,
    })
}
