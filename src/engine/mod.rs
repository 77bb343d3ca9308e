//! The engine: one DataFusion session over one lake, and the single entry
//! point [`Engine::sql`] that every front door uses.

mod audit;
mod forget;
mod params;
mod policy;
mod prepared;
mod privacy;
mod settings;

pub use audit::reads;
pub use forget::{ForgetLine, ForgetReport};
pub use policy::Policy;
pub use privacy::{CONSENT_COLUMNS, DEFAULT_ENTITY_KEY, entity_key, personal_columns};
pub use settings::{EngineOptions, Settings, total_memory_bytes};

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{CatalogProviderList, DynamicFileCatalog};
use datafusion::dataframe::DataFrame;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{LogicalPlan, Statement};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::dialect::{Dialect, dialect_from_str};

use crate::catalog::{Catalog, CatalogCache, SegmentSet};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::statements::{self, MicrosegStatement, Parsed, StatementText};

/// A context over `state` whose URL tables (a path used as a table name)
/// belong to it: the layer holds its session, so a new session needs its
/// own; a restricted session's asks `policy` about each path.
fn with_url_tables(
    state: SessionState,
    catalogs: &Arc<dyn CatalogProviderList>,
    policy: Option<&Arc<dyn Policy>>,
) -> SessionContext {
    let state = SessionStateBuilder::new_from_existing(state);
    match policy {
        None => {
            SessionContext::new_with_state(state.with_catalog_list(Arc::clone(catalogs)).build())
                .enable_url_table()
        }
        Some(policy) => {
            let urls = Arc::new(policy::PolicedUrlTables::new(Arc::clone(policy)));
            let layer = Arc::new(DynamicFileCatalog::new(Arc::clone(catalogs), urls.clone()));
            let ctx = SessionContext::new_with_state(state.with_catalog_list(layer).build());
            urls.attach(&ctx);
            ctx
        }
    }
}

/// One statement parsed and planned by [`Engine::plan`], not yet run.
#[derive(Debug, Clone)]
pub enum Planned {
    /// One of microseg's own statements (`SHOW LAKE`, `CREATE SEGMENT SET`, …).
    Microseg(MicrosegStatement),
    /// DataFusion's plan of anything else, segment sets already expanded.
    DataFusion(LogicalPlan),
}

/// An open lake with a configured DataFusion session.
///
/// Cheap to share behind an `Arc`; [`Engine::sql`] takes `&self` so a server
/// can run many queries at once.
pub struct Engine {
    ctx: SessionContext,
    lake: Lake,
    catalog: Catalog,
    /// The catalog as the analyzer reads it, shared by every session.
    cache: Arc<CatalogCache>,
    settings: Settings,
    /// The session's catalogs without DataFusion's URL-table layer, so a
    /// restricted session can put its own layer on the same catalogs.
    catalogs: Arc<dyn CatalogProviderList>,
    /// Asked about every statement and path, when the session is restricted.
    policy: Option<Arc<dyn Policy>>,
    /// This session's SQL `PREPARE`d statements.
    prepared: prepared::PreparedStatements,
    /// The column that identifies a person (suppression, erasure).
    entity_key: String,
    /// Declared personal columns (`table.column`), for the audit log.
    personal_columns: Vec<String>,
    /// The lake's privacy settings, resolved (defaults when `[privacy]` is absent).
    privacy: Arc<crate::lake::PrivacyConfig>,
    /// The consent table as found at open, or why it cannot be used.
    consent: Arc<std::result::Result<crate::planning::ConsentTable, String>>,
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

        // Rule predicates are planned with the functions alone: a state
        // without tables, and without the rule itself.
        let mut functions = SessionStateBuilder::new()
            .with_config(config.clone())
            .with_default_features()
            .build();
        microseg_udfs::register_all(&mut functions)?;
        let cache = Arc::new(CatalogCache::default());
        let builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::planning::SinglePhaseAggregate));
        // MICROSEG_DENSE_AGGREGATE=off keeps DataFusion's hash aggregation,
        // to measure one against the other.
        let builder = if std::env::var("MICROSEG_DENSE_AGGREGATE").is_ok_and(|v| v == "off") {
            builder
        } else {
            builder.with_physical_optimizer_rule(Arc::new(crate::planning::DenseGroupAggregate))
        };
        let entity_key = privacy::entity_key(&lake);
        let mut state = crate::planning::with_catalog_binding(
            builder,
            Arc::clone(&cache),
            functions,
            entity_key.clone(),
        )
        .build();
        microseg_udfs::register_all(&mut state)?;
        let state = crate::delta::attach(state, &lake).await?;
        let catalogs = Arc::clone(state.catalog_list());
        // URL tables let analysts query a Parquet/CSV file by path, as in DuckDB.
        let ctx = SessionContext::new_with_state(state).enable_url_table();
        crate::tables::register_all(&ctx, &cache);
        ctx.register_udtf(
            crate::models::importance_name(),
            Arc::new(crate::models::FeatureImportanceFunction::new(Arc::clone(
                &cache,
            ))),
        );
        ctx.register_udtf(
            crate::models::centroids_name(),
            Arc::new(crate::models::ModelCentroidsFunction::new(Arc::clone(
                &cache,
            ))),
        );
        lake.register(&ctx).await?;
        let catalog = Catalog::new(lake.location.clone());
        ctx.register_udtf(
            crate::tables::identity::COMPONENTS_FUNCTION,
            Arc::new(crate::tables::identity::IdentityComponentsFunction::new(
                catalog.clone(),
            )),
        );
        cache.refresh(&catalog).await?;
        let personal_columns = privacy::personal_columns(&lake);
        privacy::check(&ctx, &lake.config).await?;
        let privacy = Arc::new(privacy::resolved(&lake.config));
        let consent = Arc::new(privacy::consent_table(&ctx, &lake.config).await);
        let engine = Engine {
            ctx,
            privacy,
            consent,
            lake,
            catalog,
            cache,
            settings,
            catalogs,
            policy: None,
            prepared: Default::default(),
            entity_key,
            personal_columns,
        };
        engine.register_audit_log()?;
        Ok(engine)
    }

    /// Runs one SQL statement: ours (e.g. `SHOW LAKE`) or DataFusion's.
    ///
    /// Queries come back as a lazy [`DataFrame`] (stream it with
    /// `execute_stream`); DDL, `SET` and our statements have already run
    /// when this returns. The same as [`Engine::plan`] then [`Engine::execute`].
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let planned = self.plan(sql).await?;
        // Planning has just refreshed the catalog snapshot.
        self.run(planned, true).await
    }

    /// Parses and plans one statement without running anything, so a front
    /// door can inspect what it would do (the Flight SQL server refuses
    /// writes to read-only users by looking at the plan, not the text).
    ///
    /// In a restricted session ([`Engine::restricted_session`]) the policy
    /// judges the result before it is returned (and CREATE MODEL's training
    /// query before it runs).
    pub async fn plan(&self, sql: &str) -> Result<Planned> {
        self.plan_with_params(sql, &[]).await
    }

    /// [`Engine::plan`] with named parameters: each `$name` placeholder in
    /// the statement becomes the typed literal `params` gives for it, in the
    /// parsed statement (never by pasting text), before table functions see
    /// their arguments, so `rfm(…, $as_of)` works. With parameters given, a
    /// placeholder without a value is an error naming it.
    pub async fn plan_with_params(
        &self,
        sql: &str,
        params: &[(&str, datafusion::common::ScalarValue)],
    ) -> Result<Planned> {
        let planned = self.plan_unchecked(sql, params).await?;
        if let Some(policy) = &self.policy {
            policy.authorize(&planned).map_err(Error::Refused)?;
        }
        Ok(planned)
    }

    async fn plan_unchecked(
        &self,
        sql: &str,
        params: &[(&str, datafusion::common::ScalarValue)],
    ) -> Result<Planned> {
        // The dialect is not Send: drop it before the first await.
        let parsed = {
            let dialect = self.dialect()?;
            statements::parse(sql, dialect.as_ref())?
        };
        match parsed {
            Parsed::Microseg(statement) => Ok(Planned::Microseg(statement)),
            Parsed::DataFusion(mut statement) => {
                if !params.is_empty() {
                    params::bind(&mut statement, params)?;
                }
                number_question_marks(&mut statement);
                // Segment sets and models stay names in the plan; the
                // analyzer resolves them from the snapshot each time the plan
                // runs. Refreshed first, so table functions over the catalog
                // and the check below see other processes' changes.
                self.cache.refresh(&self.catalog).await?;
                let state = self.ctx.state();
                let first = state.statement_to_plan((*statement).clone()).await;
                let plan = match first {
                    // A Delta table (or schema) committed since the lake was
                    // opened: found by listing the lake, then planned again.
                    Err(e) if names_a_missing_table(&e) => {
                        if !self.adopt_new_delta_tables().await? {
                            return Err(e.into());
                        }
                        self.ctx.state().statement_to_plan(*statement).await?
                    }
                    planned => planned?,
                };
                if crate::planning::uses_catalog(&plan) {
                    // Resolved once now only to report an unknown name or a
                    // wrong call here rather than when the plan runs.
                    crate::planning::BindCatalog::new(Arc::clone(&self.cache), state.clone())
                        .analyze(plan.clone(), state.config_options())?;
                }
                Ok(Planned::DataFusion(plan))
            }
        }
    }

    /// Registers the Delta tables committed under new folders since the lake
    /// was opened; whether there were any. Only called when planning names a
    /// table it cannot find, so statements that plan pay no listing.
    async fn adopt_new_delta_tables(&self) -> Result<bool> {
        let Some(registry) = crate::delta::DeltaTables::of(&self.ctx.state()) else {
            return Ok(false);
        };
        let mut added = false;
        for spec in self.lake.delta_tables_now().await? {
            if registry.get(&spec.name).is_none() {
                registry.load(&spec).await?;
                added = true;
            }
        }
        Ok(added)
    }

    /// Runs what [`Engine::plan`] returned: DDL, `SET` and our statements
    /// run now; queries come back lazy.
    pub async fn execute(&self, planned: Planned) -> Result<DataFrame> {
        self.run(planned, false).await
    }

    async fn run(&self, planned: Planned, fresh: bool) -> Result<DataFrame> {
        match planned {
            Planned::Microseg(statement) => {
                let changes_catalog = matches!(
                    statement,
                    MicrosegStatement::CreateSegmentSet { .. }
                        | MicrosegStatement::DropSegmentSet { .. }
                        | MicrosegStatement::CreateModel { .. }
                        | MicrosegStatement::DropModel { .. }
                        | MicrosegStatement::ForgetCustomer { .. }
                );
                let result = self.execute_ours(statement).await;
                // This process sees its own catalog change at once.
                if changes_catalog {
                    self.cache.refresh(&self.catalog).await?;
                }
                result
            }
            Planned::DataFusion(LogicalPlan::Statement(Statement::Prepare(prepare))) => {
                self.prepared.prepare(prepare)?;
                self.done()
            }
            Planned::DataFusion(LogicalPlan::Statement(Statement::Deallocate(deallocate))) => {
                self.prepared.deallocate(deallocate)?;
                self.done()
            }
            Planned::DataFusion(LogicalPlan::Statement(Statement::Execute(execute))) => {
                let plan = self.prepared.execute(execute, &self.ctx.state())?;
                if crate::planning::uses_catalog(&plan) {
                    self.cache.refresh(&self.catalog).await?;
                }
                Ok(self.ctx.execute_logical_plan(plan).await?)
            }
            Planned::DataFusion(plan) => {
                // A plan made earlier (a server's prepared statement) binds
                // the catalog as it is now.
                if !fresh && crate::planning::uses_catalog(&plan) {
                    self.cache.refresh(&self.catalog).await?;
                }
                Ok(self.ctx.execute_logical_plan(plan).await?)
            }
        }
    }

    /// Re-reads the lake's segment sets and models, for programs that plan
    /// through [`Engine::session`] directly (statements run through
    /// [`Engine::sql`] do this themselves).
    pub async fn refresh_catalog(&self) -> Result<()> {
        self.cache.refresh(&self.catalog).await
    }

    /// A second session over the same lake, for a server's connections.
    ///
    /// It shares the tables (so `CREATE VIEW` in one session is seen by the
    /// others, as in the CLI), the functions, the memory pool and the spill
    /// directory, but has its own copy of the settings, so `SET` in one
    /// session does not change another's.
    pub fn new_session(&self) -> Engine {
        Engine {
            ctx: SessionContext::new_with_state(self.ctx.state()),
            lake: self.lake.clone(),
            catalog: self.catalog.clone(),
            cache: Arc::clone(&self.cache),
            settings: self.settings.clone(),
            catalogs: self.catalogs.clone(),
            policy: self.policy.clone(),
            prepared: Default::default(),
            entity_key: self.entity_key.clone(),
            personal_columns: self.personal_columns.clone(),
            privacy: Arc::clone(&self.privacy),
            consent: Arc::clone(&self.consent),
        }
    }

    /// A session as [`Engine::new_session`], in which `policy` judges every
    /// statement before it runs (CREATE MODEL's training query included) and every path
    /// named as a table before it is opened.
    pub fn restricted_session(&self, policy: Arc<dyn Policy>) -> Engine {
        let mut state = self.ctx.state();
        // Table functions that would hide a scan from the policy refuse.
        state
            .config_mut()
            .set_extension(Arc::new(crate::tables::linkage::RestrictedSession));
        let extra = policy.analyzer_rules();
        if !extra.is_empty() {
            let mut rules = state.analyzer().rules.clone();
            rules.extend(extra);
            state = SessionStateBuilder::new_from_existing(state)
                .with_analyzer_rules(rules)
                .build();
        }
        let ctx = with_url_tables(state, &self.catalogs, Some(&policy));
        Engine {
            ctx,
            lake: self.lake.clone(),
            catalog: self.catalog.clone(),
            cache: Arc::clone(&self.cache),
            settings: self.settings.clone(),
            catalogs: self.catalogs.clone(),
            policy: Some(policy),
            prepared: Default::default(),
            entity_key: self.entity_key.clone(),
            personal_columns: self.personal_columns.clone(),
            privacy: Arc::clone(&self.privacy),
            consent: Arc::clone(&self.consent),
        }
    }

    /// This engine on a session rebuilt by `rebuild`: for front doors that
    /// keep planning here but execute elsewhere (a cluster's query planner).
    pub fn with_session_state(
        self,
        rebuild: impl FnOnce(SessionState) -> datafusion::common::Result<SessionState>,
    ) -> Result<Engine> {
        let state = rebuild(self.ctx.state())?;
        Ok(Engine {
            ctx: with_url_tables(state, &self.catalogs, self.policy.as_ref()),
            ..self
        })
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

    /// The column that identifies a person in every table that has it.
    pub fn entity_key(&self) -> &str {
        &self.entity_key
    }

    /// The settings in force (after flags, `microseg.toml` and defaults).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The lake's privacy settings in force: its `[privacy]` section checked
    /// against the registered tables, or the defaults (entity key
    /// `customer_id`, readers' minimum group 10) when it has none.
    pub fn privacy(&self) -> &crate::lake::PrivacyConfig {
        &self.privacy
    }

    fn dialect_name(&self) -> String {
        self.ctx
            .state()
            .config()
            .options()
            .sql_parser
            .dialect
            .to_string()
    }

    fn dialect(&self) -> Result<Box<dyn Dialect>> {
        let name = self.dialect_name();
        dialect_from_str(&name).ok_or_else(|| Error::Config {
            source_name: "datafusion.sql_parser.dialect".into(),
            message: format!("unsupported SQL dialect {name:?}"),
        })
    }

    /// The lake's `_microseg/` catalog (segment sets, models).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    async fn execute_ours(&self, statement: MicrosegStatement) -> Result<DataFrame> {
        match statement {
            MicrosegStatement::ShowLake => Ok(self.ctx.read_batch(self.show_lake()?)?),
            MicrosegStatement::CreateSegmentSet {
                mut set,
                or_replace,
                if_not_exists,
            } => {
                if if_not_exists && self.catalog.segment_set(&set.name).await?.is_some() {
                    return self.done();
                }
                set.created_at =
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                self.catalog.put_segment_set(&set, or_replace).await?;
                self.done()
            }
            MicrosegStatement::ShowSegmentSets => {
                let sets = self.catalog.segment_sets().await?;
                Ok(self.ctx.read_batch(show_segment_sets(&sets)?)?)
            }
            MicrosegStatement::DescribeSegmentSet(name) => {
                let Some(set) = self.catalog.segment_set(&name).await? else {
                    return Err(Error::Usage(format!("unknown segment set '{name}'")));
                };
                Ok(self.ctx.read_batch(describe_segment_set(&set)?)?)
            }
            MicrosegStatement::CreateModel {
                name,
                or_replace,
                options,
                query,
            } => {
                let versions = self.catalog.model_versions(&name).await?;
                if !versions.is_empty() && !or_replace {
                    return Err(Error::Usage(format!(
                        "model {name} already exists (CREATE OR REPLACE MODEL adds a new version)"
                    )));
                }
                let version = versions.last().copied().unwrap_or(0) + 1;
                // The training rows come through the one entry point, so
                // segment sets and models can feed a model.
                let training = Box::pin(self.sql(&query)).await?;
                // The latest version, whose cluster ids the new one keeps.
                let previous = match versions.last() {
                    Some(&latest) => self.catalog.model(&name, Some(latest)).await?,
                    None => None,
                };
                let model = if crate::tables::linkage::is_linkage(&options) {
                    crate::tables::linkage::train(&name, version, &options, &query, training)
                        .await?
                } else {
                    crate::models::train(
                        &name,
                        version,
                        &options,
                        &query,
                        training,
                        previous.as_ref(),
                    )
                    .await?
                };
                self.catalog.put_model(&model).await?;
                self.done()
            }
            MicrosegStatement::ShowModels => {
                let models = self.catalog.models().await?;
                Ok(self.ctx.read_batch(crate::models::show(&models)?)?)
            }
            MicrosegStatement::DescribeModel((name, version)) => {
                let Some(model) = self.catalog.model(&name, version).await? else {
                    return Err(Error::Usage(match version {
                        Some(v) => format!("unknown model version {name}@{v}"),
                        None => format!("unknown model {name}"),
                    }));
                };
                let versions = self.catalog.model_versions(&name).await?;
                Ok(self
                    .ctx
                    .read_batch(crate::models::describe(&model, &versions)?)?)
            }
            MicrosegStatement::DropModel { name, if_exists } => {
                if !self.catalog.drop_model(&name).await? && !if_exists {
                    return Err(Error::Usage(format!(
                        "unknown model {name} (DROP MODEL IF EXISTS ignores a missing model)"
                    )));
                }
                self.done()
            }
            MicrosegStatement::CreateIdentityGraph { spec, or_replace } => {
                let versions = self.catalog.graph_versions(&spec.name).await?;
                if !versions.is_empty() && !or_replace {
                    return Err(Error::Usage(format!(
                        "identity graph {} already exists (CREATE OR REPLACE IDENTITY GRAPH adds a new version, keeping profile ids)",
                        spec.name
                    )));
                }
                let previous = match versions.last() {
                    Some(&v) => match self.catalog.graph(&spec.name).await? {
                        Some(meta) => {
                            Some((meta, self.catalog.graph_components(&spec.name, v).await?))
                        }
                        None => None,
                    },
                    None => None,
                };
                let version = versions.last().copied().unwrap_or(0) + 1;
                let (meta, components) =
                    crate::tables::identity::build(&self.ctx, &spec, version, previous).await?;
                self.catalog.put_graph(&meta, &components).await?;
                self.done()
            }
            MicrosegStatement::ShowIdentityGraphs => {
                let graphs = self.catalog.graphs().await?;
                Ok(self
                    .ctx
                    .read_batch(crate::tables::identity::show(&graphs)?)?)
            }
            MicrosegStatement::DescribeIdentityGraph(name) => {
                let Some(meta) = self.catalog.graph(&name).await? else {
                    return Err(Error::Usage(format!("unknown identity graph {name}")));
                };
                Ok(self
                    .ctx
                    .read_batch(crate::tables::identity::describe(&meta)?)?)
            }
            MicrosegStatement::DropIdentityGraph { name, if_exists } => {
                if !self.catalog.drop_graph(&name).await? && !if_exists {
                    return Err(Error::Usage(format!(
                        "unknown identity graph {name} (DROP IDENTITY GRAPH IF EXISTS ignores a missing graph)"
                    )));
                }
                self.done()
            }
            MicrosegStatement::ForgetCustomer { customer, reason } => {
                let report = self.forget(&customer, reason.as_deref()).await?;
                Ok(self.ctx.read_batch(report.batch()?)?)
            }
            MicrosegStatement::DropSegmentSet { name, if_exists } => {
                if !self.catalog.drop_segment_set(&name).await? && !if_exists {
                    return Err(Error::Usage(format!(
                        "unknown segment set '{name}' (DROP SEGMENT SET IF EXISTS ignores a missing set)"
                    )));
                }
                self.done()
            }
        }
    }

    /// What a statement that returns no rows gives: an empty result, as
    /// DataFusion's own DDL does.
    fn done(&self) -> Result<DataFrame> {
        Ok(self.ctx.read_empty()?)
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

/// Whether planning failed for want of a table or schema, which a Delta
/// table committed after the lake was opened may supply.
fn names_a_missing_table(err: &datafusion::error::DataFusionError) -> bool {
    let text = err.to_string().to_lowercase();
    text.contains("not found")
        || text.contains("not a delta table of the lake")
        || text.contains("failed to resolve schema")
}

/// JDBC and ODBC clients write parameters as `?`; DataFusion numbers only
/// `$1`, `$2`, … (every `?` would be one parameter named `?`). Number them
/// in the order they appear, as those clients bind them.
fn number_question_marks(statement: &mut DFStatement) {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions_mut};
    let DFStatement::Statement(inner) = statement else {
        return;
    };
    let mut next = 0usize;
    let _ = visit_expressions_mut(inner.as_mut(), |expr| {
        if let Expr::Value(v) = expr
            && let Value::Placeholder(name) = &mut v.value
            && name == "?"
        {
            next += 1;
            *name = format!("${next}");
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

fn text_column(values: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<StringArray>())
}

fn show_segment_sets(sets: &[SegmentSet]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("rules", DataType::UInt64, false),
        Field::new("labels", DataType::Utf8, false),
        Field::new("else_label", DataType::Utf8, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        text_column(sets.iter().map(|s| Some(s.name.clone()))),
        Arc::new(UInt64Array::from_iter_values(
            sets.iter().map(|s| s.rules.len() as u64),
        )),
        text_column(sets.iter().map(|s| {
            Some(
                s.rules
                    .iter()
                    .map(|r| r.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })),
        text_column(sets.iter().map(|s| s.else_label.clone())),
    ];
    Ok(RecordBatch::try_new(schema, columns).map_err(datafusion::error::DataFusionError::from)?)
}

/// One row per rule in priority order, then the ELSE row (predicate NULL).
fn describe_segment_set(set: &SegmentSet) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("position", DataType::UInt64, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("predicate", DataType::Utf8, true),
    ]));
    let mut labels: Vec<Option<String>> = set.rules.iter().map(|r| Some(r.label.clone())).collect();
    let mut predicates: Vec<Option<String>> = set
        .rules
        .iter()
        .map(|r| Some(r.predicate.clone()))
        .collect();
    if let Some(label) = &set.else_label {
        labels.push(Some(label.clone()));
        predicates.push(None);
    }
    let positions = UInt64Array::from_iter_values(1..=labels.len() as u64);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(positions),
        text_column(labels),
        text_column(predicates),
    ];
    Ok(RecordBatch::try_new(schema, columns).map_err(datafusion::error::DataFusionError::from)?)
}
