//! Probabilistic record linkage: `CREATE MODEL … OPTIONS (model_type
//! 'linkage', …)` trains a Fellegi–Sunter model (the kernel is
//! `microseg_udfs::model::linkage`); `predict_links`, `cluster_links` and
//! `model_parameters` ([`functions`]) apply and show it.
//!
//! Records are read as text (dates as `YYYY-MM-DD`): only the unique id,
//! the source column and the compared and blocking columns. Their memory,
//! and that of the candidate pairs (counted, and refused past `max_pairs`,
//! before any is made), is reserved in the session's memory pool.

mod functions;
mod options;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::DataFusionError;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use futures::StreamExt;
use microseg_udfs::model::linkage::{self, Candidates, LinkageModel, Records, block::PAIR_BYTES};

pub use functions::{CLUSTER_LINKS, MODEL_PARAMETERS, PREDICT_LINKS, RestrictedSession};
pub use functions::{ClusterLinksFunction, ModelParametersFunction, PredictLinksFunction};
pub use options::{DEFAULT_MAX_PAIRS, LinkageOptions};

use crate::catalog::{ModelMeta, StoredModel};
use crate::error::{Error, Result};
use crate::statements::OptionValue;

/// The columns a model reads, and how: resolved against a schema.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    /// The unique id column.
    pub unique_id: String,
    /// The source column (link).
    pub source_col: Option<String>,
    /// Compared and blocking columns, each once.
    pub compared: Vec<String>,
}

impl Columns {
    pub(crate) fn of(model: &LinkageModel, unique_id: &str, source_col: Option<&str>) -> Columns {
        let mut compared: Vec<String> = Vec::new();
        let names = model
            .comparisons
            .iter()
            .map(|c| c.column.clone())
            .chain(model.blocking.iter().flatten().cloned());
        for name in names {
            if !compared.iter().any(|c| c.eq_ignore_ascii_case(&name)) {
                compared.push(name);
            }
        }
        Columns {
            unique_id: unique_id.to_string(),
            source_col: source_col.map(str::to_string),
            compared,
        }
    }

    /// The position of each column in `schema` (id, source, compared…),
    /// or an error naming the missing one and what the rows have.
    pub(crate) fn positions(
        &self,
        schema: &Schema,
        what: &str,
    ) -> std::result::Result<Vec<usize>, String> {
        let find = |name: &str, role: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!(
                        "{role} {name} is not a column of {what} (columns: {})",
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        };
        let mut out = vec![find(&self.unique_id, "unique_id")?];
        if let Some(s) = &self.source_col {
            out.push(find(s, "source_col")?);
        }
        for c in &self.compared {
            out.push(find(c, "compared or blocking column")?);
        }
        Ok(out)
    }
}

/// Whether ids of this type come back as integers.
pub(crate) fn integer_ids(data_type: &DataType) -> bool {
    data_type.is_integer()
}

/// Reads `stream` into records, growing `reservation` as text arrives.
/// `who` starts every error ("CREATE MODEL m", "predict_links(m)").
pub(crate) async fn read_records(
    who: &str,
    mut stream: SendableRecordBatchStream,
    columns: &Columns,
    positions: &[usize],
    reservation: &mut MemoryReservation,
) -> Result<Records> {
    let usage = |m: String| Error::Usage(format!("{who}: {m}"));
    let mut ids: Vec<String> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let offset = 1 + usize::from(columns.source_col.is_some());
    let mut values: Vec<Vec<Option<String>>> = vec![Vec::new(); columns.compared.len()];
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let text = |i: usize| -> std::result::Result<_, DataFusionError> {
            Ok(cast(batch.column(positions[i]), &DataType::Utf8)?)
        };
        let id = text(0)?;
        let id = id.as_string::<i32>();
        let mut bytes = 0usize;
        for row in 0..batch.num_rows() {
            if id.is_null(row) {
                return Err(usage(format!(
                    "unique_id {} is NULL in a record: every record needs an id",
                    columns.unique_id
                )));
            }
            ids.push(id.value(row).to_string());
            bytes += id.value(row).len() + 32;
        }
        if let Some(source_col) = &columns.source_col {
            let s = text(1)?;
            let s = s.as_string::<i32>();
            for row in 0..batch.num_rows() {
                if s.is_null(row) {
                    return Err(usage(format!(
                        "source_col {source_col} is NULL in a record: every record of a link needs a source"
                    )));
                }
                sources.push(s.value(row).to_string());
                bytes += s.value(row).len() + 32;
            }
        }
        for (c, out) in values.iter_mut().enumerate() {
            let v = text(offset + c)?;
            let v = v.as_string::<i32>();
            for row in 0..batch.num_rows() {
                let value = (!v.is_null(row)).then(|| v.value(row).to_string());
                bytes += value.as_ref().map_or(0, String::len) + 32;
                out.push(value);
            }
        }
        reservation.try_grow(bytes)?;
    }
    let named = columns.compared.iter().cloned().zip(values).collect();
    Records::new(ids, columns.source_col.is_some().then_some(sources), named)
        .map_err(|e| usage(e.to_string()))
}

/// Candidate pairs of `records`, their memory reserved first.
pub(crate) fn candidate_pairs(
    who: &str,
    candidates: &Candidates<'_>,
    reservation: &mut MemoryReservation,
) -> Result<Vec<(u32, u32)>> {
    reservation
        .try_grow(candidates.upper_bound() as usize * PAIR_BYTES)
        .map_err(|e| {
            Error::Usage(format!(
                "{who}: the candidate pairs do not fit in memory: {e}"
            ))
        })?;
    Ok(candidates.pairs())
}

/// A consumer of `pool` named after `who`.
pub(crate) fn reservation(who: &str, pool: &Arc<dyn MemoryPool>) -> MemoryReservation {
    MemoryConsumer::new(who.to_string()).register(pool)
}

/// Whether `options` ask for a linkage model.
pub fn is_linkage(options: &BTreeMap<String, OptionValue>) -> bool {
    matches!(options.get("model_type"), Some(OptionValue::Text(t)) if t.eq_ignore_ascii_case("linkage"))
}

/// Trains a linkage model on `training`'s rows.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let who = format!("CREATE MODEL {name}");
    let opts = LinkageOptions::from_options(name, options)?;
    let schema = training.schema().as_arrow().clone();
    let columns = {
        // The columns before training: a model without parameters yet.
        let mut compared: Vec<String> = Vec::new();
        for c in opts
            .settings
            .comparisons
            .iter()
            .map(|c| c.column.clone())
            .chain(opts.settings.blocking.iter().flatten().cloned())
        {
            if !compared.iter().any(|x| x.eq_ignore_ascii_case(&c)) {
                compared.push(c);
            }
        }
        Columns {
            unique_id: opts.unique_id.clone(),
            source_col: opts.source_col.clone(),
            compared,
        }
    };
    let positions = columns
        .positions(&schema, "the training query")
        .map_err(|e| Error::Usage(format!("{who}: {e}")))?;
    let integer = integer_ids(schema.field(positions[0]).data_type());
    let pool = Arc::clone(training.task_ctx().memory_pool());
    let mut reservation = reservation(&who, &pool);
    let stream = training.execute_stream().await?;
    let records = read_records(&who, stream, &columns, &positions, &mut reservation).await?;
    let rows = records.len() as u64;
    let settings = opts.settings.clone();
    let who2 = who.clone();
    let model = tokio::task::spawn_blocking(move || -> Result<LinkageModel> {
        let usage = |e: linkage::LinkageError| Error::Usage(format!("{who2}: {e}"));
        let candidates = Candidates::new(
            &records,
            &settings.comparisons,
            &settings.blocking,
            settings.max_pairs,
        )
        .map_err(usage)?;
        let pairs = candidate_pairs(&who2, &candidates, &mut reservation)?;
        // Patterns hold a few bytes per distinct level vector: small.
        linkage::train(&candidates, &pairs, &settings).map_err(usage)
    })
    .await
    .map_err(|e| Error::Usage(format!("{who}: training failed: {e}")))??;
    let mut resolved = opts.resolved();
    resolved.insert(
        "unique_id_type".into(),
        if integer { "integer" } else { "text" }.into(),
    );
    let mut metrics = BTreeMap::new();
    metrics.insert("candidate_pairs".into(), model.pairs as f64);
    metrics.insert("u_samples".into(), model.u_samples as f64);
    metrics.insert("lambda".into(), model.lambda);
    if let Some(prior) = model.prior {
        metrics.insert("prior".into(), prior);
    }
    let mut parameters = BTreeMap::new();
    for (k, c) in model.comparisons.iter().enumerate() {
        for level in 0..c.levels() {
            let label = c.describe(level as i8);
            parameters.insert(format!("m.{}.{label}", c.column), model.m[k][level]);
            parameters.insert(format!("u.{}.{label}", c.column), model.u[k][level]);
        }
    }
    let meta = ModelMeta {
        name: name.to_string(),
        version,
        model_type: "linkage".into(),
        options: resolved,
        query: query.to_string(),
        features: vec![],
        rows,
        k: 0,
        iterations: model.iterations,
        converged: model.converged,
        training_seconds: started.elapsed().as_secs_f64(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        metrics,
        parameters,
        label: None,
    };
    Ok(StoredModel {
        meta,
        centroids: vec![],
        sizes: vec![],
        trees: None,
        recommender: None,
        linkage: Some(Arc::new(model)),
    })
}
