//! Where the report's SQL runs: an [`Engine`] for the file report, a web
//! session (its role, its limits, its audit) for the live pages. Either
//! way every statement is planned like any other, so a reader's report is
//! judged by the reader rules.

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;

use crate::catalog::Catalog;
use crate::engine::Engine;
use crate::error::Result;
use crate::lake::Lake;

/// Runs one SELECT and returns its rows.
#[async_trait]
pub trait Runner: Send + Sync {
    /// The batches of `sql`'s result.
    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>>;
    /// The lake the statements read (its tables decide what can be shown).
    fn lake(&self) -> &Lake;
    /// The lake's segment sets and models, listed from the catalog (what
    /// SHOW SEGMENT SETS / SHOW MODELS show every role).
    fn catalog(&self) -> &Catalog;
}

#[async_trait]
impl Runner for Engine {
    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.sql(sql).await?.collect().await?)
    }

    fn lake(&self) -> &Lake {
        Engine::lake(self)
    }

    fn catalog(&self) -> &Catalog {
        Engine::catalog(self)
    }
}
