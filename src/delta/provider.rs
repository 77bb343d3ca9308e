//! One committed version of a Delta table: delta-rs's scan of that
//! snapshot, plus what microseg needs to know about it without another
//! round trip to the log (its version, properties and partitioning).
//!
//! The providers registered in the catalog ([`super::live`]) and the ones
//! `table_at` returns hold no snapshot of their own: at each scan they ask
//! for one of these and read it through [`DeltaSnapshotTable::scan_as`],
//! which maps the columns the statement was planned with onto this
//! version's columns by name.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result as DFResult, ScalarValue, Statistics, plan_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::utils::expr_to_columns;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, Literal, cast};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use deltalake_core::DeltaTable;

use crate::error::{Error, Result};
use crate::lake::{DeltaTableSpec, LakeLocation};

/// One committed version of a Delta table, as a DataFusion table.
#[derive(Debug)]
pub struct DeltaSnapshotTable {
    /// The SQL name (`schema.table` or `table`).
    pub name: String,
    /// The folder under the lake root.
    pub folder: String,
    /// The Delta version this provider reads.
    pub version: u64,
    /// The table's configuration (`delta.*`) and what microseg recorded
    /// about it (`microseg.key`, `microseg.segments`).
    pub properties: HashMap<String, String>,
    /// Partition columns, outermost first.
    pub partition_columns: Vec<String>,
    /// The loaded table: its log store registers the files' store with
    /// the session that scans them.
    table: DeltaTable,
    inner: Arc<dyn TableProvider>,
}

/// What a scan does with a column the statement was planned with that
/// this version does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// An error: the table's schema changed under a plan (a view or a
    /// prepared statement made before the change).
    Error,
    /// NULLs: an older version read under the current schema (`table_at`),
    /// as Delta reads files written before a column was added.
    Null,
}

impl DeltaSnapshotTable {
    /// Wraps the loaded `table`.
    pub async fn try_new(
        location: &LakeLocation,
        spec: &DeltaTableSpec,
        table: &DeltaTable,
    ) -> Result<Self> {
        let fail = |e: String| {
            Error::lake(
                &location.original,
                format!("Delta table {}: {e}", spec.folder),
            )
        };
        let state = table.snapshot().map_err(|e| fail(e.to_string()))?;
        let metadata = state.metadata();
        let inner = table
            .table_provider()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut properties = metadata.configuration().clone();
        properties.extend(super::read_properties(location, &spec.folder).await?);
        Ok(DeltaSnapshotTable {
            name: spec.name.clone(),
            folder: spec.folder.clone(),
            version: state.version(),
            properties,
            partition_columns: metadata.partition_columns().to_vec(),
            table: table.clone(),
            inner,
        })
    }

    /// The loaded table.
    pub(crate) fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// A table property, e.g. `microseg.key`.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// Scans this version as a table with columns `schema` (the schema the
    /// statement was planned with): `projection` indexes `schema`, columns
    /// are found in this version by name and cast to the planned type;
    /// `missing` says what a column this version lacks becomes. Filters on
    /// such columns are not pushed into the scan (callers report filters
    /// as inexact, so DataFusion applies them again above).
    pub(crate) async fn scan_as(
        &self,
        state: &dyn Session,
        schema: &SchemaRef,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
        missing: Missing,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        self.table
            .update_datafusion_session(state)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        scan_mapped(
            self.inner.as_ref(),
            &self.name,
            self.version,
            state,
            schema,
            projection,
            filters,
            limit,
            missing,
        )
        .await
    }
}

/// Scans `inner` (a version whose own columns are `inner.schema()`) as a
/// table with columns `schema`: see [`DeltaSnapshotTable::scan_as`]. Shared
/// by the local scan and the file-list scan a cluster runs
/// ([`super::files`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn scan_mapped(
    inner: &dyn TableProvider,
    name: &str,
    version: u64,
    state: &dyn Session,
    schema: &SchemaRef,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
    missing: Missing,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    let own = inner.schema();
    let wanted: Vec<usize> = match projection {
        Some(p) => p.clone(),
        None => (0..schema.fields().len()).collect(),
    };
    // Where each wanted column is in this version.
    let mut sources: Vec<Option<usize>> = Vec::with_capacity(wanted.len());
    for &i in &wanted {
        let field = schema.field(i);
        match own.index_of(field.name()) {
            Ok(j) => sources.push(Some(j)),
            Err(_) if missing == Missing::Null => sources.push(None),
            Err(_) => {
                return plan_err!(
                    "Delta table {}: version {} has no column {:?}; the table's columns changed \
                     since this statement (or the view it reads) was planned: plan it again",
                    name,
                    version,
                    field.name()
                );
            }
        }
    }
    let mut inner_projection: Vec<usize> = Vec::new();
    for j in sources.iter().flatten() {
        if !inner_projection.contains(j) {
            inner_projection.push(*j);
        }
    }
    let usable: Vec<Expr> = filters
        .iter()
        .filter(|f| {
            let mut columns = std::collections::HashSet::new();
            expr_to_columns(f, &mut columns).is_ok()
                && columns.iter().all(|c| own.index_of(&c.name).is_ok())
        })
        .cloned()
        .collect();
    let limit = if usable.len() == filters.len() {
        limit
    } else {
        None
    };
    let plan = inner
        .scan(state, Some(&inner_projection), &usable, limit)
        .await?;
    let scanned = plan.schema();
    let direct = sources.len() == inner_projection.len()
        && sources
            .iter()
            .zip(&inner_projection)
            .all(|(s, j)| *s == Some(*j))
        && wanted.iter().enumerate().all(|(k, &i)| {
            scanned.fields().get(k).map(|f| f.data_type()) == Some(schema.field(i).data_type())
        });
    if direct {
        return Ok(plan);
    }
    let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(wanted.len());
    for (&i, source) in wanted.iter().zip(&sources) {
        let field = schema.field(i);
        let expr: Arc<dyn PhysicalExpr> = match source {
            Some(j) => {
                let k = inner_projection
                    .iter()
                    .position(|p| p == j)
                    .unwrap_or_default();
                let column: Arc<dyn PhysicalExpr> =
                    Arc::new(Column::new(scanned.field(k).name(), k));
                if scanned.field(k).data_type() == field.data_type() {
                    column
                } else {
                    cast(column, &scanned, field.data_type().clone())?
                }
            }
            None => Arc::new(Literal::new(ScalarValue::try_from(field.data_type())?)),
        };
        exprs.push((expr, field.name().clone()));
    }
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}

#[async_trait]
impl TableProvider for DeltaSnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        self.table
            .update_datafusion_session(state)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}
