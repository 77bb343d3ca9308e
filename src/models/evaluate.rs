//! `model_evaluate('model', 'query')` in FROM: how well a k-means model fits
//! the rows of a query (features in training order). One row: rows,
//! mean_squared_distance, davies_bouldin, silhouette (on a seeded sample of
//! at most 2,000 rows, since it is quadratic), silhouette_sample.
//!
//! The engine runs the query while planning and replaces the call by a
//! one-row table of the results.

use datafusion::sql::parser::Statement as DFStatement;
use futures::StreamExt;
use microseg_udfs::model::encode;
use microseg_udfs::model::metrics::{davies_bouldin, mean_squared_distance, silhouette};

use super::lookalike::{
    calls_of, derived, inner_query, named_model, parse_query, replace_calls, text_arg,
};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The SQL name.
pub const NAME: &str = "model_evaluate";
const SAMPLE: usize = 2000;
const SEED: u64 = 42;

fn usage(message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("{NAME}: {message}"))
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("CAST({v:e} AS DOUBLE)")
    } else {
        "CAST(NULL AS DOUBLE)".into()
    }
}

/// Replaces every `model_evaluate(…)` of `statement` by its results.
pub async fn expand(
    engine: &Engine,
    statement: &mut DFStatement,
    dialect_name: &str,
) -> Result<()> {
    let calls = calls_of(statement, NAME)?;
    if calls.is_empty() {
        return Ok(());
    }
    let mut replacements = Vec::new();
    for args in &calls {
        if args.len() != 2 {
            return Err(usage(format!(
                "expected 2 arguments (model, query), got {}",
                args.len()
            )));
        }
        let reference = text_arg(NAME, args, 0, "model")?;
        let sql = text_arg(NAME, args, 1, "query")?;
        let model = named_model(engine, NAME, &reference).await?;
        if model.meta.model_type != "kmeans" {
            return Err(usage(format!(
                "{} is a {} model; model_evaluate measures k-means clusterings",
                model.label(),
                model.meta.model_type
            )));
        }
        let features = &model.meta.features;
        let df = inner_query(engine, NAME, "query", &sql).await?;
        let fields = df.schema().fields().clone();
        if fields.len() != features.len() {
            return Err(usage(format!(
                "the query returns {} columns, model {} has {} features ({})",
                fields.len(),
                model.label(),
                features.len(),
                features
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for (feature, field) in features.iter().zip(fields.iter()) {
            if !feature.accepts(field.data_type()) {
                return Err(usage(format!(
                    "column {} is {}, which does not fit the model's feature {}",
                    field.name(),
                    field.data_type(),
                    feature.name()
                )));
            }
        }
        let mut data: Vec<f64> = Vec::new();
        let mut stream = df.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            encode(features, batch.columns(), batch.num_rows(), &mut data)?;
        }
        let d = microseg_udfs::model::dims(features);
        let rows = data.len() / d.max(1);
        if rows == 0 {
            return Err(usage("the query returns no rows"));
        }
        let centroids = model.centroids.clone();
        let (msd, db, sil) = tokio::task::spawn_blocking(move || {
            (
                mean_squared_distance(&data, d, &centroids),
                davies_bouldin(&data, d, &centroids),
                silhouette(&data, d, &centroids, SAMPLE, SEED),
            )
        })
        .await
        .map_err(usage)?;
        let sql = format!(
            "SELECT CAST({rows} AS BIGINT) AS rows, {} AS mean_squared_distance, {} AS davies_bouldin, {} AS silhouette, CAST({} AS BIGINT) AS silhouette_sample",
            number(msd),
            number(db),
            number(sil),
            rows.min(SAMPLE)
        );
        let dialect = datafusion::sql::sqlparser::dialect::dialect_from_str(dialect_name)
            .ok_or_else(|| usage(format!("unsupported SQL dialect {dialect_name:?}")))?;
        let query = parse_query(&sql, dialect.as_ref()).map_err(usage)?;
        replacements.push(derived(query, NAME));
    }
    replace_calls(statement, NAME, replacements)
}
