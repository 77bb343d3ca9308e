//! Segment membership history over a snapshot table written by
//! `microseg materialize` (mode `snapshot`: one `as_of` partition per run).
//!
//! - `segment_changes(table, from_as_of, to_as_of [, segment_column])` →
//!   one row per customer whose value of a segment column differs between
//!   the two snapshots: key, `segment_column`, `old_value`, `new_value`,
//!   `change` ('entered' when the customer had no value before, 'exited'
//!   when it has none after, 'moved' otherwise).
//! - `segment_flows(table, from_as_of, to_as_of [, segment_column])` → the
//!   migration matrix: `segment_column`, `from_value`, `to_value`,
//!   `customers`, stayers included (NULL stands for "not in the snapshot").
//!
//! The key and the segment columns come from the table's properties
//! (`microseg.key`, `microseg.segments`), which the job records at each
//! commit. Both functions return a view over the two `as_of` partitions:
//! a full outer join on the key per segment column, planned with the query
//! around it, so partition pruning reads only the two snapshots.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider, view::ViewTable};
use datafusion::common::{JoinType, Result, ScalarValue, plan_err};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{
    Expr, LogicalPlanBuilder, Operator, binary_expr, case, cast, col, ident, lit,
};
use datafusion::prelude::coalesce;

use super::args;
use crate::delta::{AS_OF, KEY_PROPERTY, LiveDeltaTable, SEGMENTS_PROPERTY};

/// `segment_changes`: who entered, exited or moved.
pub const CHANGES: &str = "segment_changes";
/// `segment_flows`: the migration matrix.
pub const FLOWS: &str = "segment_flows";

/// `segment_changes(table, from_as_of, to_as_of [, segment_column])`.
#[derive(Debug)]
pub struct SegmentChangesFunction;

/// `segment_flows(table, from_as_of, to_as_of [, segment_column])`.
#[derive(Debug)]
pub struct SegmentFlowsFunction;

impl TableFunctionImpl for SegmentChangesFunction {
    fn call(&self, _exprs: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        plan_err!("{CHANGES}: needs the session")
    }

    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        build(CHANGES, call)
    }
}

impl TableFunctionImpl for SegmentFlowsFunction {
    fn call(&self, _exprs: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        plan_err!("{FLOWS}: needs the session")
    }

    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        build(FLOWS, call)
    }
}

fn usage(func: &str) -> String {
    format!("{func}(table, from_as_of, to_as_of [, segment_column])")
}

/// A snapshot date argument, as a DATE.
fn date_arg(func: &str, index: usize, param: &str, exprs: &[Expr]) -> Result<ScalarValue> {
    let Some(value) = args::constant_arg(func, index, param, exprs)? else {
        return plan_err!("{func}: argument {} ({param}) is missing", index + 1);
    };
    match value.cast_to(&DataType::Date32) {
        Ok(ScalarValue::Date32(Some(d))) => Ok(ScalarValue::Date32(Some(d))),
        _ => plan_err!(
            "{func}: argument {} ({param}) must be a date such as DATE '2026-10-31', got {value}",
            index + 1
        ),
    }
}

fn build(func: &str, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
    let exprs = call.exprs();
    args::check_count(func, exprs, 3, 4, &usage(func))?;
    let name = args::name_arg(func, 0, "table", exprs)?;
    let table = args::table(func, call.session(), &name)?;
    let Some(handle) = table
        .provider
        .downcast_ref::<LiveDeltaTable>()
        .map(LiveDeltaTable::handle)
    else {
        return plan_err!(
            "{func}: argument 1 (table): {name} is not a Delta table written by `microseg materialize`"
        );
    };
    // The properties of the newest version loaded; the scans read the
    // version current when the statement runs.
    let delta = handle.cached();
    let (Some(key), Some(segments)) = (
        delta.property(KEY_PROPERTY),
        delta.property(SEGMENTS_PROPERTY),
    ) else {
        return plan_err!(
            "{func}: argument 1 (table): {name} has no {KEY_PROPERTY}/{SEGMENTS_PROPERTY} properties; \
             it was not created by a `microseg materialize` job with a key and segment columns"
        );
    };
    if table.schema().field_with_name(AS_OF).is_err() {
        return plan_err!(
            "{func}: argument 1 (table): {name} has no {AS_OF} column; only mode 'snapshot' targets keep history"
        );
    }
    let from = date_arg(func, 1, "from_as_of", exprs)?;
    let to = date_arg(func, 2, "to_as_of", exprs)?;
    let mut columns: Vec<String> = segments
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if exprs.len() == 4 {
        let wanted = args::name_arg(func, 3, "segment_column", exprs)?;
        if !columns.contains(&wanted) {
            return plan_err!(
                "{func}: argument 4 (segment_column): {wanted:?} is not a segment column of {name} (segment columns: {})",
                columns.join(", ")
            );
        }
        columns = vec![wanted];
    }
    for column in columns.iter().chain(std::iter::once(&key.to_string())) {
        table.column(func, 0, "table", column)?;
    }

    let mut union: Option<LogicalPlanBuilder> = None;
    for column in &columns {
        let side = |date: &ScalarValue, key_alias: &str, value_alias: &str| {
            table
                .scan()?
                .filter(col(AS_OF).eq(lit(date.clone())))?
                .project(vec![
                    ident(key).alias(key_alias),
                    cast(ident(column.as_str()), DataType::Utf8).alias(value_alias),
                ])
        };
        let old = side(&from, "__old_key", "old_value")?.alias("__old")?;
        let new = side(&to, "__new_key", "new_value")?
            .alias("__new")?
            .build()?;
        let pairs = old
            .join(
                new,
                JoinType::Full,
                (vec!["__old_key"], vec!["__new_key"]),
                None,
            )?
            .project(vec![
                coalesce(vec![col("__old_key"), col("__new_key")]).alias(key),
                lit(column.as_str()).alias("segment_column"),
                col("old_value"),
                col("new_value"),
            ])?;
        let part = if func == CHANGES {
            pairs
                .filter(binary_expr(
                    col("old_value"),
                    Operator::IsDistinctFrom,
                    col("new_value"),
                ))?
                .project(vec![
                    ident(key),
                    col("segment_column"),
                    col("old_value"),
                    col("new_value"),
                    case(col("old_value").is_null())
                        .when(lit(true), lit("entered"))
                        .otherwise(
                            case(col("new_value").is_null())
                                .when(lit(true), lit("exited"))
                                .otherwise(lit("moved"))?,
                        )?
                        .alias("change"),
                ])?
        } else {
            pairs.aggregate(
                vec![
                    col("segment_column"),
                    col("old_value").alias("from_value"),
                    col("new_value").alias("to_value"),
                ],
                vec![count(lit(1)).alias("customers")],
            )?
        };
        union = Some(match union {
            None => part,
            Some(acc) => acc.union(part.build()?)?,
        });
    }
    let Some(plan) = union else {
        return plan_err!("{func}: {name} lists no segment columns in {SEGMENTS_PROPERTY}");
    };
    let plan = args::analyzed(func, call.session(), plan.build()?)?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
