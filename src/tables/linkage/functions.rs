//! `predict_links('m', threshold [, table])`, `cluster_links('m', threshold
//! [, table])` and `model_parameters('m')`.
//!
//! The model comes from the catalog snapshot when the call is planned (a
//! literal name). The records are the model's training rows — its AS
//! query, planned in the scan (physical planning) and run with the rest of
//! the plan — or the table given as the third argument, whose provider is
//! scanned. Nothing runs while planning. The input's scan is hidden inside
//! this table's, so a restricted session (a reader, whose policy judges
//! every scan it plans) refuses these two functions; the cluster codec does
//! not ship them (it refuses the table by name).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int8Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::datasource::{MemTable, TableType};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use microseg_udfs::model::linkage::{self, Candidates, LinkageModel, NULL_LEVEL};

use super::super::args;
use super::{Columns, candidate_pairs, read_records, reservation};
use crate::catalog::CatalogCache;
use crate::catalog::models::parse_reference;

/// `predict_links`.
pub const PREDICT_LINKS: &str = "predict_links";
/// `cluster_links`.
pub const CLUSTER_LINKS: &str = "cluster_links";
/// `model_parameters`.
pub const MODEL_PARAMETERS: &str = "model_parameters";

/// Marks a restricted session's configuration: the linkage functions, which
/// hide a scan of their records, refuse to run there.
#[derive(Debug, Default)]
pub struct RestrictedSession;

/// A linkage model as a call holds it.
#[derive(Debug, Clone)]
struct Linked {
    label: String,
    model: Arc<LinkageModel>,
    query: String,
    columns: Columns,
    integer_ids: bool,
}

fn linkage_model(func: &str, cache: &CatalogCache, exprs: &[Expr]) -> Result<Linked> {
    let reference = args::name_arg(func, 0, "model", exprs)?;
    let (name, version) =
        parse_reference(&reference).or_else(|e| plan_err!("{func}: argument 1 (model): {e}"))?;
    let entry = match cache.snapshot().model(&name, version) {
        Ok(Some(entry)) => entry,
        Ok(None) => return plan_err!("{func}: argument 1 (model): there is no model {reference}"),
        Err(e) => {
            return plan_err!("{func}: argument 1 (model): model {reference} is unreadable: {e}");
        }
    };
    let stored = &entry.stored;
    let Some(model) = &stored.linkage else {
        return plan_err!(
            "{func}: argument 1 (model): {} is a {} model, not a linkage model (model_type 'linkage')",
            stored.label(),
            stored.meta.model_type
        );
    };
    let option = |k: &str| stored.meta.options.get(k).cloned();
    let unique_id = option("unique_id").unwrap_or_default();
    let source_col = option("source_col");
    Ok(Linked {
        label: stored.label(),
        columns: Columns::of(model, &unique_id, source_col.as_deref()),
        model: Arc::clone(model),
        query: stored.meta.query.clone(),
        integer_ids: option("unique_id_type").as_deref() == Some("integer"),
    })
}

fn threshold_arg(func: &str, exprs: &[Expr]) -> Result<f64> {
    let value = args::constant_arg(func, 1, "threshold", exprs)?;
    match value.as_ref().map(|v| v.cast_to(&DataType::Float64)) {
        Some(Ok(ScalarValue::Float64(Some(t)))) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => plan_err!(
            "{func}: argument 2 (threshold) must be a match probability from 0 to 1, got {}",
            value.map_or("nothing".to_string(), |v| v.to_string())
        ),
    }
}

/// Links or clusters.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Predict,
    Cluster,
}

/// `predict_links` or `cluster_links`.
#[derive(Debug)]
pub struct LinksFunction {
    cache: Arc<CatalogCache>,
    mode: Mode,
}

/// `predict_links`.
pub type PredictLinksFunction = LinksFunction;
/// `cluster_links`.
pub type ClusterLinksFunction = LinksFunction;

impl LinksFunction {
    /// `predict_links` over `cache`'s models.
    pub fn predict(cache: Arc<CatalogCache>) -> Self {
        LinksFunction {
            cache,
            mode: Mode::Predict,
        }
    }

    /// `cluster_links` over `cache`'s models.
    pub fn cluster(cache: Arc<CatalogCache>) -> Self {
        LinksFunction {
            cache,
            mode: Mode::Cluster,
        }
    }

    fn name(&self) -> &'static str {
        match self.mode {
            Mode::Predict => PREDICT_LINKS,
            Mode::Cluster => CLUSTER_LINKS,
        }
    }
}

impl TableFunctionImpl for LinksFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let func = self.name();
        let exprs = call.exprs();
        let usage = format!("{func}('model', threshold [, table])");
        args::check_count(func, exprs, 2, 3, &usage)?;
        let linked = linkage_model(func, &self.cache, exprs)?;
        let threshold = threshold_arg(func, exprs)?;
        let table = match exprs.get(2) {
            None => None,
            Some(_) => {
                let name = args::name_arg(func, 2, "table", exprs)?;
                let table = args::table(func, call.session(), &name)?;
                linked
                    .columns
                    .positions(&table.schema(), &format!("table {name}"))
                    .or_else(|e| plan_err!("{func}: argument 3 (table): {e}"))?;
                Some(table.provider)
            }
        };
        let id_type = if linked.integer_ids {
            DataType::Int64
        } else {
            DataType::Utf8
        };
        let mut fields = match self.mode {
            Mode::Predict => vec![
                Field::new("unique_id_l", id_type.clone(), false),
                Field::new("unique_id_r", id_type, false),
                Field::new("match_weight", DataType::Float64, false),
                Field::new("match_probability", DataType::Float64, false),
            ],
            Mode::Cluster => vec![
                Field::new("unique_id", id_type.clone(), false),
                Field::new("cluster_id", id_type, false),
            ],
        };
        if self.mode == Mode::Predict {
            for c in &linked.model.comparisons {
                fields.push(Field::new(
                    format!("gamma_{}", c.column),
                    DataType::Int8,
                    false,
                ));
            }
        }
        Ok(Arc::new(LinksTable {
            func,
            linked,
            threshold,
            table,
            schema: Arc::new(Schema::new(fields)),
            mode: self.mode,
        }))
    }
}

/// The table a call returns.
#[derive(Debug)]
struct LinksTable {
    func: &'static str,
    linked: Linked,
    threshold: f64,
    table: Option<Arc<dyn TableProvider>>,
    schema: SchemaRef,
    mode: Mode,
}

#[async_trait]
impl TableProvider for LinksTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let func = self.func;
        if state
            .config()
            .get_extension::<RestrictedSession>()
            .is_some()
        {
            return plan_err!(
                "{func}: not available in a restricted session (it reads the records of model {} outside the session's checks)",
                self.linked.label
            );
        }
        let input = match &self.table {
            Some(provider) => provider.scan(state, None, &[], None).await?,
            None => {
                let state = args::state(func, state)?;
                let plan = state
                    .create_logical_plan(&self.linked.query)
                    .await
                    .map_err(|e| {
                        DataFusionError::Plan(format!(
                            "{func}: the training query of {} no longer plans: {e}",
                            self.linked.label
                        ))
                    })?;
                state.create_physical_plan(&plan).await?
            }
        };
        let positions = self
            .linked
            .columns
            .positions(
                &input.schema(),
                &format!("the records of {}", self.linked.label),
            )
            .or_else(|e| plan_err!("{func}: {e}"))?;
        let partition = Arc::new(Links {
            who: format!("{func}({})", self.linked.label),
            linked: self.linked.clone(),
            input,
            positions,
            threshold: self.threshold,
            schema: Arc::clone(&self.schema),
            mode: self.mode,
        });
        Ok(Arc::new(StreamingTableExec::try_new(
            Arc::clone(&self.schema),
            vec![partition],
            projection,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// The one partition: reads the records, scores the candidate pairs.
#[derive(Debug)]
struct Links {
    who: String,
    linked: Linked,
    input: Arc<dyn ExecutionPlan>,
    positions: Vec<usize>,
    threshold: f64,
    schema: SchemaRef,
    mode: Mode,
}

impl PartitionStream for Links {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (who, linked, input, positions, threshold, schema, mode) = (
            self.who.clone(),
            self.linked.clone(),
            Arc::clone(&self.input),
            self.positions.clone(),
            self.threshold,
            Arc::clone(&self.schema),
            self.mode,
        );
        let out_schema = Arc::clone(&schema);
        let batch = async move {
            let external = |e: crate::error::Error| DataFusionError::External(Box::new(e));
            let stream = execute_stream(input, Arc::clone(&ctx))?;
            let mut reservation = reservation(&who, ctx.memory_pool());
            let records = read_records(&who, stream, &linked.columns, &positions, &mut reservation)
                .await
                .map_err(external)?;
            tokio::task::spawn_blocking(move || {
                let model = &linked.model;
                let candidates = Candidates::new(
                    &records,
                    &model.comparisons,
                    &model.blocking,
                    model.max_pairs,
                )
                .map_err(|e| DataFusionError::Execution(format!("{who}: {e}")))?;
                let pairs =
                    candidate_pairs(&who, &candidates, &mut reservation).map_err(external)?;
                let links = model.score(&candidates, &pairs, threshold);
                drop(pairs);
                let ids = |list: Vec<&str>| -> Result<ArrayRef> {
                    let text: ArrayRef = Arc::new(StringArray::from(list));
                    Ok(if linked.integer_ids {
                        cast(&text, &DataType::Int64)?
                    } else {
                        text
                    })
                };
                let columns: Vec<ArrayRef> = match mode {
                    Mode::Predict => {
                        let mut columns = vec![
                            ids(links.iter().map(|l| records.id(l.left)).collect())?,
                            ids(links.iter().map(|l| records.id(l.right)).collect())?,
                            Arc::new(Float64Array::from_iter_values(
                                links.iter().map(|l| l.weight),
                            )),
                            Arc::new(Float64Array::from_iter_values(
                                links.iter().map(|l| l.probability),
                            )),
                        ];
                        for k in 0..model.comparisons.len() {
                            columns.push(Arc::new(Int8Array::from_iter_values(
                                links.iter().map(|l| l.levels[k]),
                            )));
                        }
                        columns
                    }
                    Mode::Cluster => {
                        let edges: Vec<(u32, u32, f64)> =
                            links.iter().map(|l| (l.left, l.right, l.weight)).collect();
                        let (of, _) =
                            linkage::capped_clusters(records.len(), &edges, model.max_cluster_size);
                        vec![
                            ids((0..records.len() as u32).map(|i| records.id(i)).collect())?,
                            ids(of.iter().map(|&c| records.id(c)).collect())?,
                        ]
                    }
                };
                Ok(RecordBatch::try_new(schema, columns)?)
            })
            .await
            .map_err(|e| DataFusionError::Execution(format!("linkage failed: {e}")))?
        };
        Box::pin(RecordBatchStreamAdapter::new(
            out_schema,
            futures::stream::once(batch),
        ))
    }
}

/// `model_parameters('m')`: comparison, level, description, m, u,
/// bayes_factor per level, and the prior first.
#[derive(Debug)]
pub struct ModelParametersFunction {
    cache: Arc<CatalogCache>,
}

impl ModelParametersFunction {
    /// Over `cache`'s models.
    pub fn new(cache: Arc<CatalogCache>) -> Self {
        ModelParametersFunction { cache }
    }
}

impl TableFunctionImpl for ModelParametersFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let func = MODEL_PARAMETERS;
        let exprs = call.exprs();
        args::check_count(func, exprs, 1, 1, "model_parameters('model')")?;
        let model = linkage_model(func, &self.cache, exprs)?.model;
        let mut comparison = vec!["prior".to_string()];
        let mut level: Vec<Option<i32>> = vec![None];
        let (prior, what) = match model.prior {
            Some(p) => (p, "probability two random records match"),
            None => (model.lambda, "share of matches among candidate pairs"),
        };
        let mut description = vec![what.to_string()];
        let mut m = vec![Some(prior)];
        let mut u = vec![None];
        let mut bf = vec![prior / (1.0 - prior)];
        for (k, c) in model.comparisons.iter().enumerate() {
            for l in (0..c.levels() as i8).rev().chain([NULL_LEVEL]) {
                comparison.push(c.to_text());
                level.push(Some(i32::from(l)));
                description.push(c.describe(l));
                if l == NULL_LEVEL {
                    m.push(None);
                    u.push(None);
                    bf.push(1.0);
                } else {
                    let (mk, uk) = (model.m[k][l as usize], model.u[k][l as usize]);
                    m.push(Some(mk));
                    u.push(Some(uk));
                    bf.push(mk / uk);
                }
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("comparison", DataType::Utf8, false),
            Field::new("level", DataType::Int32, true),
            Field::new("description", DataType::Utf8, false),
            Field::new("m", DataType::Float64, true),
            Field::new("u", DataType::Float64, true),
            Field::new("bayes_factor", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(comparison)),
                Arc::new(Int32Array::from(level)),
                Arc::new(StringArray::from(description)),
                Arc::new(Float64Array::from(m)),
                Arc::new(Float64Array::from(u)),
                Arc::new(Float64Array::from(bf)),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
