//! What a restricted session may run, asked before anything runs.
//!
//! A front door (the Flight SQL server for its `reader` role) gives a
//! session a [`Policy`]. The engine asks it about every statement it plans,
//! including the training query `CREATE MODEL` runs while it executes
//! (`lookalike` and `model_evaluate` are planned into the statement, views
//! and all), and about
//! every path a statement names as a table (`FROM '/some/file.parquet'`,
//! `DESCRIBE '…'`) before the path is opened, so neither a plan that hides
//! the path nor a planning-time side effect gets past it.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use datafusion::catalog::{TableProvider, UrlTableFactory};
use datafusion::datasource::listing::{
    ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;

use super::Planned;
use crate::error::Error;

/// The rules of a restricted session. Each answer is `Ok` or what was
/// refused, worded for the user (it becomes the error message).
pub trait Policy: Debug + Send + Sync {
    /// May the session run `planned`?
    fn authorize(&self, planned: &Planned) -> Result<(), String>;
    /// May the session read the files at `url` as a table?
    fn read_path(&self, url: &ListingTableUrl) -> Result<(), String>;
    /// Analyzer rules the session runs after its own (after `BindCatalog`
    /// and type coercion), on every plan it executes: rules that rewrite
    /// what runs, which the optimizer then cannot undo.
    fn analyzer_rules(&self) -> Vec<Arc<dyn AnalyzerRule + Send + Sync>> {
        Vec::new()
    }
}

/// A session state, when the session still exists.
type StateOf = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// DataFusion's URL tables (a path in FROM read as a table), asking the
/// policy before the path is touched: schema inference already lists and
/// reads the files. The table is built as DataFusion's own factory does;
/// that factory cannot be reused because its session handle is not public.
pub(super) struct PolicedUrlTables {
    policy: Arc<dyn Policy>,
    state: OnceLock<StateOf>,
}

impl std::fmt::Debug for PolicedUrlTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicedUrlTables")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PolicedUrlTables {
    pub(super) fn new(policy: Arc<dyn Policy>) -> Self {
        PolicedUrlTables {
            policy,
            state: OnceLock::new(),
        }
    }

    /// Ties the factory to its session, once the session exists.
    pub(super) fn attach(&self, ctx: &SessionContext) {
        let weak = ctx.state_weak_ref();
        let _ = self.state.set(Box::new(move || {
            weak.upgrade().map(|state| state.read().clone())
        }));
    }

    async fn table(&self, name: &str) -> TableResult {
        // Every name that is no table lands here, a new table's name in
        // `CREATE TABLE` included. A bare name is not taken as a path (as
        // DataFusion would, relative to the server's folder): it stays "not
        // found", and the statement gets its own answer.
        if !name.contains(['/', '\\', '.', ':']) {
            return Ok(None);
        }
        // Not a URL: DataFusion's factory would not make a table of it either.
        let Ok(url) = ListingTableUrl::parse(name) else {
            return Ok(None);
        };
        self.policy
            .read_path(&url)
            .map_err(|refused| DataFusionError::External(Box::new(Error::Refused(refused))))?;
        let state = self
            .state
            .get()
            .and_then(|state_of| state_of())
            .ok_or_else(|| DataFusionError::Internal("the session is gone".into()))?;
        match ListingTableConfig::new(url).infer_options(&state).await {
            Ok(config) => {
                let config = config
                    .infer_partitions_from_path(&state)
                    .await?
                    .infer_schema(&state)
                    .await?;
                Ok(Some(Arc::new(ListingTable::try_new(config)?)))
            }
            Err(_) => Ok(None),
        }
    }
}

type TableResult = datafusion::error::Result<Option<Arc<dyn TableProvider>>>;

impl UrlTableFactory for PolicedUrlTables {
    // The trait is declared with `async_trait`; this is its expansion.
    fn try_new<'a, 'b, 'f>(
        &'a self,
        url: &'b str,
    ) -> Pin<Box<dyn Future<Output = TableResult> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(self.table(url))
    }
}
