//! Argument handling shared by the table functions: every error names the
//! function and the argument, and unknown names list what exists.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{
    Column, Result, ScalarValue, TableReference, plan_datafusion_err, plan_err,
};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::expr_rewriter::normalize_col;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use futures::FutureExt;

pub use crate::args::{check_count, constant_arg, name_arg, state};

/// A table named by a table function's argument, with its provider.
pub struct NamedTable {
    /// The name as the user wrote it.
    pub name: String,
    /// How DataFusion resolves it.
    pub reference: TableReference,
    /// The table (or view) itself.
    pub provider: Arc<dyn TableProvider>,
}

impl NamedTable {
    /// The table's schema.
    pub fn schema(&self) -> SchemaRef {
        self.provider.schema()
    }

    /// A plan scanning the whole table; the optimizer prunes the columns.
    pub fn scan(&self) -> Result<LogicalPlanBuilder> {
        LogicalPlanBuilder::scan(
            self.reference.clone(),
            provider_as_source(Arc::clone(&self.provider)),
            None,
        )
    }

    /// Checks that `column` exists and returns its type; the error lists
    /// the table's columns.
    pub fn column(&self, func: &str, index: usize, param: &str, column: &str) -> Result<DataType> {
        let schema = self.schema();
        match schema.field_with_name(column) {
            Ok(field) => Ok(field.data_type().clone()),
            Err(_) => {
                let available: Vec<&str> =
                    schema.fields().iter().map(|f| f.name().as_str()).collect();
                plan_err!(
                    "{func}: argument {} ({param}): table {} has no column {column:?} (available: {})",
                    index + 1,
                    self.name,
                    available.join(", ")
                )
            }
        }
    }
}

/// A model argument: a name (`'m'`, `'m@2'`, or an identifier) or a
/// placeholder bound at EXECUTE. It stays an expression: the engine's
/// analyzer binds the model functions it is passed to each time the plan
/// runs.
pub fn model_arg(func: &str, index: usize, args: &[Expr]) -> Result<Expr> {
    match args.get(index) {
        Some(e @ Expr::Placeholder(_)) => Ok(e.clone()),
        Some(e @ Expr::Cast(cast)) if matches!(cast.expr.as_ref(), Expr::Placeholder(_)) => {
            Ok(e.clone())
        }
        _ => Ok(Expr::Literal(
            ScalarValue::Utf8(Some(name_arg(func, index, "model", args)?)),
            None,
        )),
    }
}

/// Looks up table `name` in the session's catalogs; the error for an
/// unknown one lists the tables of the default schema.
pub fn table(func: &str, session: &dyn Session, name: &str) -> Result<NamedTable> {
    table_at(func, session, 0, "table", name)
}

/// [`table`] for argument `index` (`param`) of `func`.
pub fn table_at(
    func: &str,
    session: &dyn Session,
    index: usize,
    param: &str,
    name: &str,
) -> Result<NamedTable> {
    let state = state(func, session)?;
    let reference = TableReference::from(name);
    // A Delta table of the lake: its provider reads the version current
    // when the statement runs (the schema's own lookup lists the log first,
    // which cannot be waited for here).
    let catalog = &state.config_options().catalog;
    if let Some(handle) = crate::delta::DeltaTables::of(state).and_then(|r| {
        r.resolve(
            &reference,
            &catalog.default_catalog,
            &catalog.default_schema,
        )
    }) {
        return Ok(NamedTable {
            name: name.to_string(),
            reference,
            provider: handle.provider(),
        });
    }
    let mut reference = reference;
    let mut schema = state.schema_for_ref(reference.clone())?;
    if !schema.table_exist(reference.table()) {
        // A quoted identifier ("MyView") arrives with its case kept, and
        // parsing it again would fold it: look the name up as it is.
        let exact = TableReference::bare(name);
        let exact_schema = state.schema_for_ref(exact.clone())?;
        if exact_schema.table_exist(exact.table()) {
            reference = exact;
            schema = exact_schema;
        }
    }
    if !schema.table_exist(reference.table()) {
        let mut known = schema.table_names();
        known.sort();
        return plan_err!(
            "{func}: argument {} ({param}): unknown table {name} (tables: {})",
            index + 1,
            known.join(", ")
        );
    }
    // In-memory schemas (where the lake's tables and views live) answer at
    // once; planning is synchronous here, so a schema that must wait for I/O
    // is reported rather than blocked on.
    let found = schema
        .table(reference.table())
        .now_or_never()
        .ok_or_else(|| {
            plan_datafusion_err!(
                "{func}: table {name} lives in a schema that cannot be read while planning"
            )
        })??;
    match found {
        Some(provider) => Ok(NamedTable {
            name: name.to_string(),
            reference,
            provider,
        }),
        None => plan_err!(
            "{func}: argument {} ({param}): unknown table {name}",
            index + 1
        ),
    }
}

/// Types the plan with the session's analyzer (type coercion), so the
/// schema the view reports is exactly the one execution produces. The
/// reader's privacy rule is left out: it judges the whole statement this
/// plan is inlined into (alone, the plan is customer-level by design).
pub fn analyzed(func: &str, session: &dyn Session, plan: LogicalPlan) -> Result<LogicalPlan> {
    let state = state(func, session)?;
    let mut analyzer = state.analyzer().clone();
    analyzer
        .rules
        .retain(|rule| rule.name() != crate::planning::privacy::RULE_NAME);
    analyzer.execute_and_check(plan, state.config_options(), |_, _| {})
}

/// Adds window expressions, given as (expression, output name): grouped by
/// their PARTITION BY / ORDER BY into one Window node per group, as the SQL
/// planner does (a node must share its keys), then renamed.
pub fn windows(plan: LogicalPlanBuilder, exprs: Vec<(Expr, &str)>) -> Result<LogicalPlanBuilder> {
    let input = plan.build()?;
    // Qualified as the window node will name them, so the renaming
    // projection finds the columns.
    let exprs = exprs
        .into_iter()
        .map(|(e, name)| Ok((normalize_col(e, &input)?, name)))
        .collect::<Result<Vec<_>>>()?;
    let mut outputs: Vec<Expr> = input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    for (expr, name) in &exprs {
        outputs.push(Expr::Column(Column::from_name(expr.schema_name().to_string())).alias(*name));
    }
    let windowed = LogicalPlanBuilder::window_plan(input, exprs.into_iter().map(|(e, _)| e))?;
    LogicalPlanBuilder::from(windowed).project(outputs)
}

/// Microseconds in a day: day arithmetic is done on whole microseconds.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The first four arguments shared by the transaction table functions
/// (`rfm`, `clv_summary`): table, customer, timestamp and amount columns,
/// looked up and type-checked.
pub struct Transactions {
    /// The table.
    pub table: NamedTable,
    /// The customer column.
    pub customer: String,
    /// The timestamp (or date) column.
    pub ts: String,
    /// Its type.
    pub ts_type: DataType,
    /// The amount column.
    pub amount: String,
    /// Timestamp(µs) with the ts column's zone: the unit day arithmetic uses.
    pub micros_type: DataType,
}

/// Reads and checks arguments 1–4 of a transaction table function.
pub fn transactions(func: &str, session: &dyn Session, exprs: &[Expr]) -> Result<Transactions> {
    let table_name = name_arg(func, 0, "table", exprs)?;
    let customer = name_arg(func, 1, "customer_col", exprs)?;
    let ts = name_arg(func, 2, "ts_col", exprs)?;
    let amount = name_arg(func, 3, "amount_col", exprs)?;
    let table = table(func, session, &table_name)?;
    table.column(func, 1, "customer_col", &customer)?;
    let ts_type = table.column(func, 2, "ts_col", &ts)?;
    let amount_type = table.column(func, 3, "amount_col", &amount)?;
    let tz = match &ts_type {
        DataType::Timestamp(_, tz) => tz.clone(),
        DataType::Date32 | DataType::Date64 => None,
        other => {
            return plan_err!(
                "{func}: argument 3 (ts_col): column {ts:?} is {other}, not a timestamp or date"
            );
        }
    };
    if !(amount_type.is_numeric() || amount_type.is_null()) {
        return plan_err!(
            "{func}: argument 4 (amount_col): column {amount:?} is {amount_type}, not numeric"
        );
    }
    Ok(Transactions {
        table,
        customer,
        ts,
        ts_type,
        amount,
        micros_type: DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, tz),
    })
}

/// A constant date or timestamp argument (`index`, named `param`) of
/// `func` as a constant of `target` (a timestamp or date type), or an error
/// naming the argument.
pub fn temporal(
    func: &str,
    index: usize,
    param: &str,
    value: &ScalarValue,
    target: &DataType,
) -> Result<ScalarValue> {
    let ok_source = matches!(
        value.data_type(),
        DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
    );
    if !ok_source {
        return plan_err!(
            "{func}: argument {} ({param}) must be a date or timestamp, got {} {value}",
            index + 1,
            value.data_type()
        );
    }
    value.cast_to(target).or_else(|e| {
        plan_err!(
            "{func}: argument {} ({param}) is not a valid date or timestamp: {value}: {e}",
            index + 1
        )
    })
}
