//! `table_at(table, version | timestamp)`: a Delta table as it was.
//!
//! The table is an identifier (`segments.customer_segments`, quoted parts
//! keep their case) or a string (`'segments.customer_segments'`); the
//! version a number, a timestamp or a string holding one, or a parameter
//! (`table_at(t, $1)` in a prepared statement).
//!
//! Planning is synchronous and reads nothing: the function answers with a
//! provider carrying the table's current columns and the `at` argument;
//! the version is loaded when the statement is physically planned. A
//! constant `at` is read by the provider's `scan` (so projections and
//! filters reach delta-rs); a parameter makes the provider a
//! [`TableAtNode`] extension node, whose expression
//! `LogicalPlan::with_param_values` binds like any other, planned by
//! [`TableAtPlanner`]. An older version is read under the current columns:
//! a column added since reads as NULL, as Delta reads files written before
//! a column was added.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{
    DFSchema, DFSchemaRef, Result as DFResult, ScalarValue, TableReference, plan_datafusion_err,
    plan_err,
};
use datafusion::datasource::TableType;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, TableProviderFilterPushDown, UserDefinedLogicalNode,
    UserDefinedLogicalNodeCore, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::live::{DeltaHandle, DeltaTables};
use super::provider::Missing;
use super::{At, DeltaSnapshotTable};
use crate::args;

/// The SQL name.
pub const TABLE_AT: &str = "table_at";

const USAGE: &str = "table_at(schema.table | 'schema.table', version | timestamp)";

/// The `table_at` table function.
#[derive(Debug)]
pub struct TableAtFunction;

/// The table argument: an identifier as the SQL planner resolved it
/// (quoted parts keep their case) or a string parsed as a table name.
fn table_reference(exprs: &[Expr]) -> DFResult<TableReference> {
    match exprs.first() {
        Some(Expr::Column(c)) => Ok(match &c.relation {
            None => TableReference::bare(c.name.as_str()),
            Some(TableReference::Bare { table }) => {
                TableReference::partial(table.as_ref(), c.name.as_str())
            }
            Some(TableReference::Partial { schema, table }) => {
                TableReference::full(schema.as_ref(), table.as_ref(), c.name.as_str())
            }
            Some(other) => {
                return plan_err!(
                    "{TABLE_AT}: argument 1 (table): {other}.{} has too many parts",
                    c.name
                );
            }
        }),
        _ => Ok(TableReference::from(args::name_arg(
            TABLE_AT, 0, "table", exprs,
        )?)),
    }
}

/// What the folded `at` expression means.
fn at_of_expr(expr: &Expr) -> DFResult<At> {
    let Some(value) = args::constant_arg(
        TABLE_AT,
        1,
        "version or timestamp",
        &[lit(""), expr.clone()],
    )?
    else {
        return plan_err!("{TABLE_AT}: argument 2 (version or timestamp) is missing");
    };
    at_of_scalar(&value)
        .or_else(|why| plan_err!("{TABLE_AT}: argument 2 (version or timestamp): {why}"))
}

fn has_placeholder(expr: &Expr) -> bool {
    expr.exists(|e| Ok(matches!(e, Expr::Placeholder(_))))
        .unwrap_or(true)
}

impl TableFunctionImpl for TableAtFunction {
    fn call(&self, _exprs: &[Expr]) -> DFResult<Arc<dyn TableProvider>> {
        plan_err!("{TABLE_AT}: needs the session")
    }

    fn call_with_args(&self, call: TableFunctionArgs) -> DFResult<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(TABLE_AT, exprs, 2, 2, USAGE)?;
        let reference = table_reference(exprs)?;
        let Some(registry) = DeltaTables::of(call.session()) else {
            return plan_err!("{TABLE_AT}: works in a microseg engine's sessions only");
        };
        let catalog = &call.session().config().options().catalog;
        let Some(handle) = registry.resolve(
            &reference,
            &catalog.default_catalog,
            &catalog.default_schema,
        ) else {
            let names = registry.names();
            return plan_err!(
                "{TABLE_AT}: argument 1 (table): {reference} is not a Delta table of the lake (Delta tables: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
        };
        let at_expr = exprs[1].clone();
        // A constant is checked now; a parameter when it is bound.
        let at = if has_placeholder(&at_expr) {
            None
        } else {
            Some(at_of_expr(&at_expr)?)
        };
        Ok(Arc::new(TableAtProvider {
            schema: handle.cached().schema(),
            handle,
            at_expr,
            at,
        }))
    }
}

/// Loads the version `at` names of the table behind `handle`.
async fn load(handle: &DeltaHandle, at: &At) -> DFResult<Arc<DeltaSnapshotTable>> {
    handle
        .at(at)
        .await
        .map_err(|e| plan_datafusion_err!("{TABLE_AT}: cannot read {} at {at}: {e}", handle.name()))
}

/// What `table_at(…)` returns.
#[derive(Debug)]
struct TableAtProvider {
    handle: Arc<DeltaHandle>,
    schema: SchemaRef,
    at_expr: Expr,
    /// The version, when `at_expr` is a constant.
    at: Option<At>,
}

#[async_trait]
impl TableProvider for TableAtProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        if self.at.is_some() {
            return None;
        }
        let schema = DFSchema::try_from(self.schema.as_ref().clone()).ok()?;
        Some(Cow::Owned(LogicalPlan::Extension(Extension {
            node: Arc::new(TableAtNode {
                handle: Arc::clone(&self.handle),
                at: self.at_expr.clone(),
                schema: Arc::new(schema),
            }),
        })))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let at = match &self.at {
            Some(at) => at.clone(),
            None => at_of_expr(&self.at_expr)?,
        };
        let snapshot = load(&self.handle, &at).await?;
        snapshot
            .scan_as(
                state,
                &self.schema,
                projection,
                filters,
                limit,
                Missing::Null,
            )
            .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

/// The table and version a constant `table_at(…)` reads, loaded; `None`
/// when `provider` is not one.
pub(crate) async fn pinned(
    provider: &dyn TableProvider,
) -> Option<DFResult<(Arc<DeltaHandle>, Arc<DeltaSnapshotTable>)>> {
    let provider = provider.downcast_ref::<TableAtProvider>()?;
    let at = match &provider.at {
        Some(at) => at.clone(),
        None => match at_of_expr(&provider.at_expr) {
            Ok(at) => at,
            Err(e) => return Some(Err(e)),
        },
    };
    Some(
        load(&provider.handle, &at)
            .await
            .map(|snapshot| (Arc::clone(&provider.handle), snapshot)),
    )
}

/// A `table_at` leaf whose parameter `EXECUTE` has bound: the provider a
/// constant version gives (so a cluster client pins it like one); `None`
/// for any other node. An unbound parameter is an error naming it.
pub(crate) fn bound_provider(
    node: &dyn UserDefinedLogicalNode,
) -> Option<DFResult<Arc<dyn TableProvider>>> {
    let node = node.as_any().downcast_ref::<TableAtNode>()?;
    if has_placeholder(&node.at) {
        return Some(plan_err!(
            "{TABLE_AT}: argument 2 (version or timestamp) is a parameter with no value: {}",
            node.at
        ));
    }
    Some(at_of_expr(&node.at).map(|at| {
        Arc::new(TableAtProvider {
            handle: Arc::clone(&node.handle),
            schema: Arc::new(node.schema.as_arrow().clone()),
            at_expr: node.at.clone(),
            at: Some(at),
        }) as Arc<dyn TableProvider>
    }))
}

/// `table_at` with a parameter for its version: a leaf of the logical
/// plan whose one expression is the version, bound by `EXECUTE`.
pub struct TableAtNode {
    handle: Arc<DeltaHandle>,
    at: Expr,
    schema: DFSchemaRef,
}

impl fmt::Debug for TableAtNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableAt: {} at {}", self.handle.name(), self.at)
    }
}

impl PartialEq for TableAtNode {
    fn eq(&self, other: &Self) -> bool {
        self.handle.name() == other.handle.name() && self.at == other.at
    }
}

impl Eq for TableAtNode {}

impl Hash for TableAtNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.handle.name().hash(state);
        self.at.hash(state);
    }
}

impl PartialOrd for TableAtNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.handle.name().partial_cmp(other.handle.name()) {
            Some(Ordering::Equal) => self.at.partial_cmp(&other.at),
            unequal => unequal,
        }
    }
}

impl UserDefinedLogicalNodeCore for TableAtNode {
    fn name(&self) -> &str {
        "TableAt"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![self.at.clone()]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TableAt: {} at {}", self.handle.name(), self.at)
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> DFResult<Self> {
        let Some(at) = exprs.into_iter().next() else {
            return plan_err!("{TABLE_AT}: the version expression is missing");
        };
        Ok(TableAtNode {
            handle: Arc::clone(&self.handle),
            at,
            schema: Arc::clone(&self.schema),
        })
    }
}

/// Plans [`TableAtNode`]: loads the version its (now bound) expression names.
#[derive(Debug)]
pub struct TableAtPlanner;

#[async_trait]
impl ExtensionPlanner for TableAtPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<TableAtNode>() else {
            return Ok(None);
        };
        if has_placeholder(&node.at) {
            return plan_err!(
                "{TABLE_AT}: argument 2 (version or timestamp) is a parameter with no value: {}",
                node.at
            );
        }
        let at = at_of_expr(&node.at)?;
        let snapshot = load(&node.handle, &at).await?;
        let schema: SchemaRef = Arc::new(node.schema.as_arrow().clone());
        snapshot
            .scan_as(session, &schema, None, &[], None, Missing::Null)
            .await
            .map(Some)
    }
}

/// DataFusion's planner, with `table_at`'s extension node.
#[derive(Debug)]
pub struct DeltaQueryPlanner;

#[async_trait]
impl QueryPlanner for DeltaQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(TableAtPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// Parses a timestamp given as text: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]`
/// (UTC) or a date (its midnight, UTC).
fn parse_timestamp(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "{text:?} is neither a version number nor a timestamp such as '2026-10-31T06:00:00Z'"
    ))
}

/// What a folded argument value means.
fn at_of_scalar(value: &ScalarValue) -> std::result::Result<At, String> {
    let micros = |v: &ScalarValue| match v.cast_to(
        &datafusion::arrow::datatypes::DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            None,
        ),
    ) {
        Ok(ScalarValue::TimestampMicrosecond(Some(us), _)) => DateTime::from_timestamp_micros(us)
            .map(At::Timestamp)
            .ok_or_else(|| format!("{v} is out of range")),
        _ => Err(format!("cannot read {v} as a timestamp")),
    };
    match value {
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_)) => {
            match value.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
                Ok(ScalarValue::Int64(Some(v))) if v >= 0 => Ok(At::Version(v as u64)),
                _ => Err(format!("version {value} must be ≥ 0")),
            }
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => parse_timestamp(s).map(At::Timestamp),
        ScalarValue::TimestampSecond(Some(_), _)
        | ScalarValue::TimestampMillisecond(Some(_), _)
        | ScalarValue::TimestampMicrosecond(Some(_), _)
        | ScalarValue::TimestampNanosecond(Some(_), _)
        | ScalarValue::Date32(Some(_))
        | ScalarValue::Date64(Some(_)) => micros(value),
        other => Err(format!(
            "expected a version number or a timestamp, got {other} ({})",
            other.data_type()
        )),
    }
}
