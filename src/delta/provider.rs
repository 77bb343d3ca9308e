//! The table provider a Delta table is registered as: delta-rs's scan of one
//! snapshot, plus what microseg needs to know about it without another
//! round trip to the log (its version, properties and partitioning).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result as DFResult, Statistics};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
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
    inner: Arc<dyn TableProvider>,
}

impl DeltaSnapshotTable {
    /// Wraps the loaded `table`; registers its store with `ctx` so scans
    /// can read its files.
    pub async fn try_new(
        ctx: &SessionContext,
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
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| fail(e.to_string()))?;
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
            inner,
        })
    }

    /// A table property, e.g. `microseg.key`.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
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
