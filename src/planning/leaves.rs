//! Putting a guard directly above every leaf whose rows are about people:
//! what query-time suppression and the consent filter share. A guard
//! beneath everything else is seen by nothing above it as a choice: joins,
//! aggregates and windows only ever get the rows it keeps.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{Expr, Limit, LogicalPlan, Projection, TableScan, TableScanBuilder};

/// A guard over one leaf: the leaf and its entity-key column in, the
/// guarded plan out, with the leaf's schema.
pub(crate) type Wrap<'a> = dyn Fn(LogicalPlan, Column) -> Result<LogicalPlan> + 'a;

/// `node` guarded by `wrap` when it is a leaf (a table scan, or an
/// extension node without inputs such as `table_at`'s) whose rows carry
/// column `key`; otherwise unchanged. A guarded leaf is not visited again
/// (`Jump`), so a rule calling this from `transform_down` guards each once.
pub(crate) fn wrap_keyed_leaf(
    node: LogicalPlan,
    key: &str,
    wrap: &Wrap<'_>,
) -> Result<Transformed<LogicalPlan>> {
    match node {
        LogicalPlan::TableScan(scan) => wrap_scan(scan, key, wrap),
        LogicalPlan::Extension(ext) if ext.node.inputs().is_empty() => {
            let leaf = LogicalPlan::Extension(ext);
            match key_column(leaf.schema(), key) {
                Some(column) => jumped(wrap(leaf, column)?),
                None => Ok(Transformed::no(leaf)),
            }
        }
        other => Ok(Transformed::no(other)),
    }
}

fn jumped(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    Ok(Transformed::new(plan, true, TreeNodeRecursion::Jump))
}

fn wrap_scan(scan: TableScan, key: &str, wrap: &Wrap<'_>) -> Result<Transformed<LogicalPlan>> {
    let source_schema = scan.source.schema();
    let Ok(index) = source_schema.index_of(key) else {
        return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
    };
    let column = Column::new(Some(scan.table_name.clone()), key.to_string());
    let keeps_key = scan.projection.as_ref().is_none_or(|p| p.contains(&index));
    if keeps_key && scan.fetch.is_none() {
        return jumped(wrap(LogicalPlan::TableScan(scan), column)?);
    }
    // Read the key too, guard, then give the scan's own columns (and its
    // row limit) back above the guard.
    let wanted: Vec<Expr> = scan
        .projected_schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let projection = scan.projection.clone().map(|mut p| {
        if !p.contains(&index) {
            p.push(index);
        }
        p
    });
    let wider = TableScanBuilder::new(scan.table_name.clone(), Arc::clone(&scan.source))
        .with_projection(projection)
        .with_filters(scan.filters.clone())
        .build()?;
    let mut plan = wrap(LogicalPlan::TableScan(wider), column)?;
    if let Some(fetch) = scan.fetch {
        plan = LogicalPlan::Limit(Limit {
            skip: None,
            fetch: Some(Box::new(Expr::Literal(
                ScalarValue::Int64(Some(fetch as i64)),
                None,
            ))),
            input: Arc::new(plan),
        });
    }
    jumped(LogicalPlan::Projection(Projection::try_new(
        wanted,
        Arc::new(plan),
    )?))
}

/// The column named `key` in `schema`, with its qualifier.
fn key_column(schema: &DFSchema, key: &str) -> Option<Column> {
    schema
        .qualified_field_with_unqualified_name(key)
        .ok()
        .map(|(qualifier, field)| Column::new(qualifier.cloned(), field.name()))
}
