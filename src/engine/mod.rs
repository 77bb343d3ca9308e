//! The engine: one DataFusion session over one lake, and the single entry
//! point [`Engine::sql`] that every front door uses.

mod settings;

pub use settings::{EngineOptions, Settings};

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::dialect::{Dialect, dialect_from_str};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::statements::{self, MicrosegStatement, Parsed, StatementText};

/// An open lake with a configured DataFusion session.
///
/// Cheap to share behind an `Arc`; [`Engine::sql`] takes `&self` so a server
/// can run many queries at once.
pub struct Engine {
    ctx: SessionContext,
    lake: Lake,
    settings: Settings,
}

impl Engine {
    /// Opens the lake at `location` (a path or object-store URL) and builds
    /// the session: memory pool, spill directory, partitions, time zone,
    /// every microseg function and every lake table.
    pub async fn open(location: &str, options: EngineOptions) -> Result<Engine> {
        let lake = Lake::open(location, options.config.as_deref()).await?;
        let settings = Settings::resolve(&options, &lake.config.engine)?;

        let mut disk = DiskManagerBuilder::default();
        if let Some(dir) = &settings.spill_dir {
            std::fs::create_dir_all(dir).map_err(|e| Error::Config {
                source_name: "spill_dir".into(),
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
            disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.clone()]));
        }
        // TrackConsumersPool makes "resources exhausted" errors name the
        // operators holding the memory, which is what a user needs to act.
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(settings.memory_limit),
            std::num::NonZeroUsize::new(5).expect("5 is not zero"),
        );
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(disk)
            .build_arc()?;

        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions(settings.target_partitions)
            .with_batch_size(settings.batch_size);
        config.options_mut().execution.time_zone = settings.time_zone.clone();
        config.options_mut().execution.parquet.pushdown_filters = true;

        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        microseg_udfs::register_all(&mut state)?;
        // URL tables let analysts query a Parquet/CSV file by path, as in DuckDB.
        let ctx = SessionContext::new_with_state(state).enable_url_table();
        lake.register(&ctx).await?;
        Ok(Engine {
            ctx,
            lake,
            settings,
        })
    }

    /// Runs one SQL statement: ours (e.g. `SHOW LAKE`) or DataFusion's.
    ///
    /// Queries come back as a lazy [`DataFrame`] (stream it with
    /// `execute_stream`); DDL, `SET` and our statements have already run
    /// when this returns.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        // The dialect is not Send: drop it before the first await.
        let parsed = {
            let dialect = self.dialect()?;
            statements::parse(sql, dialect.as_ref())?
        };
        match parsed {
            Parsed::Microseg(statement) => self.execute_ours(statement).await,
            Parsed::DataFusion(statement) => {
                let state = self.ctx.state();
                let plan = state.statement_to_plan(*statement).await?;
                Ok(self.ctx.execute_logical_plan(plan).await?)
            }
        }
    }

    /// Splits a script into statements (with their line numbers) using the
    /// session's SQL dialect.
    pub fn split_script(&self, script: &str) -> Result<Vec<StatementText>> {
        let dialect = self.dialect()?;
        Ok(statements::split_statements(script, dialect.as_ref())?)
    }

    /// The DataFusion session, for embedding programs that need more than SQL.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// The lake this engine has open.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The settings in force (after flags, `microseg.toml` and defaults).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn dialect(&self) -> Result<Box<dyn Dialect>> {
        let name = self
            .ctx
            .state()
            .config()
            .options()
            .sql_parser
            .dialect
            .to_string();
        dialect_from_str(&name).ok_or_else(|| Error::Config {
            source_name: "datafusion.sql_parser.dialect".into(),
            message: format!("unsupported SQL dialect {name:?}"),
        })
    }

    async fn execute_ours(&self, statement: MicrosegStatement) -> Result<DataFrame> {
        match statement {
            MicrosegStatement::ShowLake => Ok(self.ctx.read_batch(self.show_lake()?)?),
        }
    }

    fn show_lake(&self) -> Result<RecordBatch> {
        let tables = &self.lake.tables;
        let text = |f: &dyn Fn(&crate::lake::TableSpec) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(tables.iter().map(f)))
        };
        let count = |f: &dyn Fn(&crate::lake::TableSpec) -> u64| -> ArrayRef {
            Arc::new(UInt64Array::from_iter_values(tables.iter().map(f)))
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("location", DataType::Utf8, false),
            Field::new("files", DataType::UInt64, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("partition_columns", DataType::Utf8, false),
            Field::new("columns", DataType::UInt64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            text(&|t| t.name.clone()),
            text(&|t| t.url.clone()),
            count(&|t| t.files as u64),
            // From the footers read at open: exact, and free.
            count(&|t| t.rows),
            count(&|t| t.bytes),
            text(&|t| {
                t.partition_cols
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            count(&|t| (t.schema.fields().len() + t.partition_cols.len()) as u64),
        ];
        Ok(RecordBatch::try_new(schema, columns)
            .map_err(datafusion::error::DataFusionError::from)?)
    }
}
