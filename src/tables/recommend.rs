//! `recommend(model, k)` and `recommend_for(model, customer_id, k [, segment])`.
//!
//! `recommend` lists every customer of the model with their top k items; a
//! WHERE on `customer_id` or `segment` (`=`, `IN`) reaches the scan through
//! filter pushdown, so only those customers are scored. Rows are computed
//! when the plan runs, a chunk of customers per batch, over one partition
//! per core; the model is the one the catalog snapshot holds when the call
//! is planned.
//!
//! `recommend_for` is a table function rather than a scalar returning a
//! list: each recommendation keeps its score and reason as columns, and a
//! customer the model does not know still gets rows (the favourites of the
//! segment given as the fourth argument, or of everyone) with a reason
//! that says so.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::StreamExt;
use microseg_udfs::model::recommend::{Recommendation, Recommender};
use microseg_udfs::model::{Fitted, RecommenderModel};

use super::args;
use crate::catalog::CatalogCache;
use crate::catalog::models::parse_reference;

/// `recommend`.
pub const RECOMMEND: &str = "recommend";
/// `recommend_for`.
pub const RECOMMEND_FOR: &str = "recommend_for";
/// Customers per batch.
const CHUNK: usize = 4096;
/// Most items one call may ask for per customer.
pub(super) const MAX_K: i64 = 10_000;

/// The recommender a literal model argument names, from the snapshot.
pub(super) fn recommender(
    func: &str,
    cache: &CatalogCache,
    exprs: &[Expr],
) -> Result<RecommenderModel> {
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
    match entry.bound.0.as_ref() {
        Fitted::Recommender(m) => Ok(m.clone()),
        other => plan_err!(
            "{func}: argument 1 (model): {} is a {} model, not a recommender (model_type 'recommender')",
            other.label(),
            other.kind()
        ),
    }
}

/// A positive whole-number argument (k).
pub(super) fn count_arg(func: &str, index: usize, param: &str, exprs: &[Expr]) -> Result<usize> {
    let value = args::constant_arg(func, index, param, exprs)?;
    match value.as_ref().map(|v| v.cast_to(&DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(k)))) if (1..=MAX_K).contains(&k) => Ok(k as usize),
        _ => plan_err!(
            "{func}: argument {} ({param}) must be a whole number from 1 to {MAX_K}, got {}",
            index + 1,
            value.map_or("nothing".to_string(), |v| v.to_string())
        ),
    }
}

/// A constant key argument as text, as the model stores keys.
pub(super) fn key_arg(
    func: &str,
    index: usize,
    param: &str,
    exprs: &[Expr],
) -> Result<Option<String>> {
    match args::constant_arg(func, index, param, exprs)? {
        None => Ok(None),
        Some(v) if v.is_null() => plan_err!("{func}: argument {} ({param}) is NULL", index + 1),
        Some(v) => Ok(Some(key_text(&v)?)),
    }
}

fn key_text(value: &ScalarValue) -> Result<String> {
    if value.data_type().is_integer() {
        return Ok(value.cast_to(&DataType::Int64)?.to_string());
    }
    match value.cast_to(&DataType::Utf8)? {
        ScalarValue::Utf8(Some(s)) => Ok(s),
        other => Ok(other.to_string()),
    }
}

/// The result columns.
fn schema(model: &RecommenderModel) -> SchemaRef {
    let mut fields = vec![
        Field::new("customer_id", model.customer_type(), false),
        Field::new("rank", DataType::Int32, false),
        Field::new("item", model.item_type(), false),
        Field::new("score", DataType::Float64, false),
        Field::new("reason", DataType::Utf8, false),
    ];
    if model.model.has_segments() {
        fields.push(Field::new("segment", DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// One customer's rows, to be turned into a batch.
struct Rows {
    customer: StringBuilder,
    rank: Int32Builder,
    item: StringBuilder,
    score: Float64Builder,
    reason: StringBuilder,
    segment: StringBuilder,
}

impl Rows {
    fn new() -> Self {
        Rows {
            customer: StringBuilder::new(),
            rank: Int32Builder::new(),
            item: StringBuilder::new(),
            score: Float64Builder::new(),
            reason: StringBuilder::new(),
            segment: StringBuilder::new(),
        }
    }

    fn push(
        &mut self,
        model: &Recommender,
        customer: &str,
        segment: Option<&str>,
        recs: &[Recommendation],
        reason_prefix: &str,
    ) {
        for (rank, r) in recs.iter().enumerate() {
            self.customer.append_value(customer);
            self.rank.append_value(rank as i32 + 1);
            self.item.append_value(&model.data.items[r.item as usize]);
            self.score.append_value(r.score);
            self.reason
                .append_value(format!("{reason_prefix}{}", model.reason(r.source)));
            self.segment.append_option(segment);
        }
    }

    fn finish(mut self, schema: &SchemaRef, model: &RecommenderModel) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            cast(&self.customer.finish(), &model.customer_type())?,
            Arc::new(self.rank.finish()),
            cast(&self.item.finish(), &model.item_type())?,
            Arc::new(self.score.finish()),
            Arc::new(self.reason.finish()),
        ];
        if schema.fields().len() == 6 {
            columns.push(Arc::new(self.segment.finish()));
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// Which customers a `recommend` scan scores.
#[derive(Debug, Clone)]
enum Selection {
    All,
    Some(Arc<Vec<u32>>),
}

/// One partition of a `recommend` scan: every `parts`-th chunk of the
/// selected customers, starting at chunk `part`.
#[derive(Debug)]
struct Partition {
    model: RecommenderModel,
    k: usize,
    schema: SchemaRef,
    selection: Selection,
    part: usize,
    parts: usize,
}

impl PartitionStream for Partition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let total = match &self.selection {
            Selection::All => self.model.model.data.customers.len(),
            Selection::Some(list) => list.len(),
        };
        let chunks: Vec<usize> = (self.part..total.div_ceil(CHUNK))
            .step_by(self.parts)
            .collect();
        let (model, k, schema, selection) = (
            self.model.clone(),
            self.k,
            Arc::clone(&self.schema),
            self.selection.clone(),
        );
        let out_schema = Arc::clone(&schema);
        let stream = futures::stream::iter(chunks).map(move |chunk| {
            let m = &model.model;
            let mut rows = Rows::new();
            for at in chunk * CHUNK..((chunk + 1) * CHUNK).min(total) {
                let c = match &selection {
                    Selection::All => at,
                    Selection::Some(list) => list[at] as usize,
                };
                let recs = m.recommend(c, k);
                rows.push(m, &m.data.customers[c], m.segment_label(c), &recs, "");
            }
            rows.finish(&schema, &model)
        });
        Box::pin(RecordBatchStreamAdapter::new(out_schema, stream))
    }
}

/// `recommend(model, k)`'s table.
#[derive(Debug)]
struct RecommendTable {
    model: RecommenderModel,
    k: usize,
    schema: SchemaRef,
}

/// The constant values a filter allows for `column`, if it is one of the
/// forms pushed down (`column = v`, `v = column`, `column IN (v, …)`, ORs
/// of those).
fn allowed(filter: &Expr, column: &str) -> Option<Vec<ScalarValue>> {
    let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
    let literal = |e: &Expr| match e {
        Expr::Literal(v, _) if !v.is_null() => Some(v.clone()),
        _ => None,
    };
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            if is_column(left) {
                literal(right).map(|v| vec![v])
            } else if is_column(right) {
                literal(left).map(|v| vec![v])
            } else {
                None
            }
        }
        // The optimizer writes a short IN list as ORs of equalities.
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut values = allowed(left, column)?;
            values.extend(allowed(right, column)?);
            Some(values)
        }
        Expr::InList(list) if !list.negated && is_column(&list.expr) => {
            list.list.iter().map(literal).collect()
        }
        _ => None,
    }
}

#[async_trait]
impl TableProvider for RecommendTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let segmented = self.model.model.has_segments();
        Ok(filters
            .iter()
            .map(|f| {
                if allowed(f, "customer_id").is_some()
                    || (segmented && allowed(f, "segment").is_some())
                {
                    // DataFusion applies the filter again: scoring fewer
                    // customers is the point, not exactness.
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let m = &self.model.model;
        let mut selected: Option<BTreeSet<u32>> = None;
        let mut narrow = |set: BTreeSet<u32>| {
            selected = Some(match selected.take() {
                None => set,
                Some(s) => s.intersection(&set).copied().collect(),
            });
        };
        for filter in filters {
            if let Some(values) = allowed(filter, "customer_id") {
                let mut set = BTreeSet::new();
                for v in &values {
                    if let Some(c) = m.customer(&key_text(v)?) {
                        set.insert(c as u32);
                    }
                }
                narrow(set);
            } else if let Some(values) = allowed(filter, "segment") {
                let labels: BTreeSet<String> =
                    values.iter().map(key_text).collect::<Result<_>>()?;
                narrow(
                    (0..m.data.customers.len())
                        .filter(|&c| m.segment_label(c).is_some_and(|s| labels.contains(s)))
                        .map(|c| c as u32)
                        .collect(),
                );
            }
        }
        let selection = match selected {
            None => Selection::All,
            Some(set) => Selection::Some(Arc::new(set.into_iter().collect())),
        };
        let parts = state.config().target_partitions().max(1);
        let partitions: Vec<Arc<dyn PartitionStream>> = (0..parts)
            .map(|part| {
                Arc::new(Partition {
                    model: self.model.clone(),
                    k: self.k,
                    schema: Arc::clone(&self.schema),
                    selection: selection.clone(),
                    part,
                    parts,
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            Arc::clone(&self.schema),
            partitions,
            projection,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// Makes a table's one batch when the plan runs.
pub(super) type Make = Arc<dyn Fn() -> Result<RecordBatch> + Send + Sync>;

/// A table whose one batch is made when the plan runs (`what` names it in
/// plans).
pub(super) struct ComputedTable {
    pub what: String,
    pub schema: SchemaRef,
    pub make: Make,
}

impl std::fmt::Debug for ComputedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

impl PartitionStream for ComputedTable {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let make = Arc::clone(&self.make);
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::once(async move { make() }),
        ))
    }
}

#[async_trait]
impl TableProvider for ComputedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partition: Arc<dyn PartitionStream> = Arc::new(ComputedTable {
            what: self.what.clone(),
            schema: Arc::clone(&self.schema),
            make: Arc::clone(&self.make),
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

/// `recommend` or `recommend_for`.
#[derive(Debug)]
pub struct RecommendFunction {
    one: bool,
    cache: Arc<CatalogCache>,
}

impl RecommendFunction {
    /// `recommend(model, k)`.
    pub fn all(cache: Arc<CatalogCache>) -> Self {
        Self { one: false, cache }
    }

    /// `recommend_for(model, customer_id, k [, segment])`.
    pub fn one(cache: Arc<CatalogCache>) -> Self {
        Self { one: true, cache }
    }
}

/// `recommend_for`'s rows, made when the plan runs.
struct ForOne {
    model: RecommenderModel,
    customer: String,
    segment: Option<String>,
    k: usize,
    schema: SchemaRef,
}

impl ForOne {
    fn rows(&self) -> Result<RecordBatch> {
        let m = &self.model.model;
        let mut rows = Rows::new();
        match m.customer(&self.customer) {
            Some(c) => {
                let recs = m.recommend(c, self.k);
                rows.push(m, &self.customer, m.segment_label(c), &recs, "");
            }
            None => {
                let recs = m.favourites(self.segment.as_deref(), self.k);
                rows.push(
                    m,
                    &self.customer,
                    self.segment.as_deref(),
                    &recs,
                    "unknown_customer:",
                );
            }
        }
        rows.finish(&self.schema, &self.model)
    }
}

impl TableFunctionImpl for RecommendFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        if !self.one {
            args::check_count(RECOMMEND, exprs, 2, 2, "recommend(model, k)")?;
            let model = recommender(RECOMMEND, &self.cache, exprs)?;
            let k = count_arg(RECOMMEND, 1, "k", exprs)?;
            return Ok(Arc::new(RecommendTable {
                schema: schema(&model),
                model,
                k,
            }));
        }
        const FUNC: &str = RECOMMEND_FOR;
        args::check_count(
            FUNC,
            exprs,
            3,
            4,
            "recommend_for(model, customer_id, k [, segment])",
        )?;
        let model = recommender(FUNC, &self.cache, exprs)?;
        let Some(customer) = key_arg(FUNC, 1, "customer_id", exprs)? else {
            return plan_err!("{FUNC}: argument 2 (customer_id) is missing");
        };
        let k = count_arg(FUNC, 2, "k", exprs)?;
        let segment = key_arg(FUNC, 3, "segment", exprs)?;
        let schema = schema(&model);
        let what = format!("recommend_for({}, {customer}, {k})", model.label);
        let one = ForOne {
            model,
            customer,
            segment,
            k,
            schema: Arc::clone(&schema),
        };
        Ok(Arc::new(ComputedTable {
            what,
            schema,
            make: Arc::new(move || one.rows()),
        }))
    }
}
