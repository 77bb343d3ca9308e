//! `identity_components('graph')`: the stored components of an identity
//! graph's latest version — source, record_key, profile_id, component_size,
//! matched_by, flagged. Planning does no I/O; the scan finds the latest
//! version when the query runs and reads its Parquet file.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::super::args;
use crate::catalog::Catalog;
use crate::catalog::identity_graphs::components_schema;

/// The SQL name.
pub const NAME: &str = "identity_components";
const USAGE: &str = "identity_components('graph')";

/// The table function; it holds the lake's catalog.
#[derive(Debug)]
pub struct IdentityComponentsFunction {
    catalog: Catalog,
}

impl IdentityComponentsFunction {
    /// Over the graphs of `catalog`'s lake.
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }
}

impl TableFunctionImpl for IdentityComponentsFunction {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = call.exprs();
        args::check_count(NAME, exprs, 1, 1, USAGE)?;
        let name = args::name_arg(NAME, 0, "graph", exprs)?;
        if let Err(e) = Catalog::check_name("identity graph", &name) {
            return plan_err!("{NAME}: argument 1 (graph): {e}");
        }
        Ok(Arc::new(Components {
            catalog: self.catalog.clone(),
            name,
        }))
    }
}

#[derive(Debug)]
/// What `identity_components('g')` returns: the newest version's
/// components, read at each scan.
pub struct Components {
    catalog: Catalog,
    name: String,
}

impl Components {
    /// The newest version's components, loaded: what a scan reads, and
    /// what a cluster client ships in the plan instead of this provider.
    pub async fn rows(&self) -> Result<MemTable> {
        let versions = self
            .catalog
            .graph_versions(&self.name)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let Some(&version) = versions.last() else {
            return plan_err!(
                "{NAME}: unknown identity graph '{}' (SHOW IDENTITY GRAPHS lists them)",
                self.name
            );
        };
        // The components of one version are read whole: they are one row
        // per source record, small next to the sources themselves.
        let batches = self
            .catalog
            .graph_components(&self.name, version)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        MemTable::try_new(components_schema(), vec![batches])
    }
}

#[async_trait]
impl TableProvider for Components {
    fn schema(&self) -> SchemaRef {
        components_schema()
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
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.rows()
            .await?
            .scan(state, projection, filters, limit)
            .await
    }
}
