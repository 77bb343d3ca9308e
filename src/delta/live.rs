//! Delta tables in the catalog: registered once, always read at their
//! newest committed version.
//!
//! - [`DeltaTables`] knows the lake's Delta tables by SQL name, each as a
//!   [`DeltaHandle`] holding the newest snapshot loaded so far. It is
//!   shared by every session of an engine (a [`SessionConfig`] extension),
//!   and is the only mutable state: a newer version replaces the cached
//!   snapshot in place, nothing is ever deregistered.
//! - [`LiveDeltaTable`] is the provider the catalog hands out. Its scan
//!   (at physical planning) lists the log, loads the newest version if it
//!   is not the cached one, and scans exactly that one complete version
//!   (the same one for every scan of the table in one statement).
//!   So a view, a prepared statement or a table function (`rfm(t, …)`)
//!   planned long ago reads the version current when it runs.
//! - [`LakeCatalog`] / [`LakeSchema`] wrap the in-memory catalog: a
//!   statement naming a Delta table gets, through the schema's async
//!   `table()`, a provider with the newest version's columns, and a name
//!   that is not registered but has a Delta log in the lake (a first
//!   materialization while a server runs) is found there.
//!
//! [`SessionConfig`]: datafusion::prelude::SessionConfig

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DFResult, TableReference, exec_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::provider::Missing;
use super::{At, DeltaSnapshotTable};
use crate::error::{Error, Result};
use crate::lake::{DeltaTableSpec, LakeLocation};

/// How many explicitly asked versions (`table_at`) a table keeps loaded.
const KEPT_VERSIONS: usize = 8;

/// How many recent statements' versions a table remembers: far more than
/// can be planned between two scans of one statement.
const PINNED_STATEMENTS: usize = 64;

/// One Delta table of the lake and the newest snapshot loaded of it.
#[derive(Debug)]
pub struct DeltaHandle {
    location: LakeLocation,
    spec: DeltaTableSpec,
    /// The newest version loaded; replaced only by a newer one.
    latest: RwLock<Arc<DeltaSnapshotTable>>,
    /// Versions `table_at` asked for, by number.
    versions: RwLock<BTreeMap<u64, Arc<DeltaSnapshotTable>>>,
    /// One load at a time per table: concurrent statements that find the
    /// same new version load it once.
    loading: tokio::sync::Mutex<()>,
    /// The version each recent statement read, by the statement's start
    /// time (DataFusion's `query_execution_start_time`, set once for each
    /// statement's plan), so a statement reading the table twice (a self
    /// join, a view and the table) reads one version.
    pins: Mutex<BTreeMap<DateTime<Utc>, Arc<DeltaSnapshotTable>>>,
}

fn df_error(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl DeltaHandle {
    /// The SQL name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Where the lake is.
    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    /// The newest snapshot loaded, without looking at the log.
    pub fn cached(&self) -> Arc<DeltaSnapshotTable> {
        Arc::clone(&self.latest.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keeps `snapshot` as the newest if it is newer than the cached one.
    fn offer(&self, snapshot: &Arc<DeltaSnapshotTable>) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        if snapshot.version > latest.version {
            *latest = Arc::clone(snapshot);
        }
    }

    /// The newest committed version: one listing of the log, and a load
    /// when it is not the cached one.
    pub async fn current(&self) -> Result<Arc<DeltaSnapshotTable>> {
        let newest = super::latest_version(&self.location, &self.spec.folder)
            .await?
            .ok_or_else(|| {
                Error::lake(
                    &self.location.original,
                    format!(
                        "Delta table {}: no committed version under {}/_delta_log/",
                        self.spec.name, self.spec.folder
                    ),
                )
            })?;
        self.version(newest).await
    }

    /// The version the statement that started at `started` reads: the
    /// newest at its first scan of this table.
    pub async fn for_statement(
        &self,
        started: Option<DateTime<Utc>>,
    ) -> Result<Arc<DeltaSnapshotTable>> {
        let Some(started) = started else {
            return self.current().await;
        };
        if let Some(pinned) = self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&started)
        {
            return Ok(Arc::clone(pinned));
        }
        let newest = self.current().await?;
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        // A scan of the same statement that got here first wins.
        let pinned = Arc::clone(pins.entry(started).or_insert(newest));
        while pins.len() > PINNED_STATEMENTS {
            pins.pop_first();
        }
        Ok(pinned)
    }

    /// Version `version`, from the cache or loaded.
    pub async fn version(&self, version: u64) -> Result<Arc<DeltaSnapshotTable>> {
        if let Some(found) = self.kept(version) {
            return Ok(found);
        }
        let _one_at_a_time = self.loading.lock().await;
        if let Some(found) = self.kept(version) {
            return Ok(found);
        }
        let table = super::open(&self.location, &self.spec.folder, &At::Version(version)).await?;
        let snapshot =
            Arc::new(DeltaSnapshotTable::try_new(&self.location, &self.spec, &table).await?);
        self.keep(&snapshot);
        Ok(snapshot)
    }

    /// The version current at `at` (a timestamp), loaded.
    pub async fn at(&self, at: &At) -> Result<Arc<DeltaSnapshotTable>> {
        match at {
            At::Latest => self.current().await,
            At::Version(v) => self.version(*v).await,
            At::Timestamp(t) => {
                let table = super::open(&self.location, &self.spec.folder, at).await?;
                // delta-rs answers a time before the first commit with version 0;
                // the table did not exist then, which is an error, not an answer.
                let first = table
                    .snapshot()
                    .ok()
                    .and_then(|s| s.version_timestamp(s.version()))
                    .and_then(chrono::DateTime::from_timestamp_millis);
                if let Some(first) = first.filter(|f| f > t) {
                    return Err(Error::Usage(format!(
                        "{} has no version as old as {} (the oldest it can read is from {})",
                        self.spec.name,
                        t.to_rfc3339(),
                        first.to_rfc3339()
                    )));
                }
                let version = table.version().unwrap_or_default();
                if let Some(found) = self.kept(version) {
                    return Ok(found);
                }
                let snapshot = Arc::new(
                    DeltaSnapshotTable::try_new(&self.location, &self.spec, &table).await?,
                );
                self.keep(&snapshot);
                Ok(snapshot)
            }
        }
    }

    fn kept(&self, version: u64) -> Option<Arc<DeltaSnapshotTable>> {
        let latest = self.cached();
        if latest.version == version {
            return Some(latest);
        }
        let versions = self.versions.read().unwrap_or_else(|e| e.into_inner());
        versions.get(&version).cloned()
    }

    fn keep(&self, snapshot: &Arc<DeltaSnapshotTable>) {
        self.offer(snapshot);
        if self.cached().version == snapshot.version {
            return;
        }
        let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
        if versions.len() >= KEPT_VERSIONS {
            // The oldest version asked for goes first.
            versions.pop_first();
        }
        versions.insert(snapshot.version, Arc::clone(snapshot));
    }

    /// A provider reading the newest version at each scan, with the
    /// columns of the newest version loaded so far.
    pub fn provider(self: &Arc<Self>) -> Arc<LiveDeltaTable> {
        Arc::new(LiveDeltaTable {
            handle: Arc::clone(self),
            schema: self.cached().schema(),
        })
    }
}

/// The lake's Delta tables by SQL name, shared by an engine's sessions.
#[derive(Debug)]
pub struct DeltaTables {
    location: LakeLocation,
    tables: RwLock<HashMap<String, Arc<DeltaHandle>>>,
}

impl DeltaTables {
    /// An empty registry over the lake at `location`.
    pub fn new(location: LakeLocation) -> Self {
        DeltaTables {
            location,
            tables: RwLock::new(HashMap::new()),
        }
    }

    /// The registry of the session `state` belongs to.
    pub fn of(state: &dyn Session) -> Option<Arc<DeltaTables>> {
        state.config().get_extension::<DeltaTables>()
    }

    /// The table registered as `name` (`schema.table` or `table`).
    pub fn get(&self, name: &str) -> Option<Arc<DeltaHandle>> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        tables.get(name).cloned()
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<String> {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = tables.keys().cloned().collect();
        names.sort();
        names
    }

    /// The schemas holding registered tables.
    fn schemas(&self) -> Vec<String> {
        let mut schemas: Vec<String> = self
            .names()
            .into_iter()
            .filter_map(|n| n.split_once('.').map(|(s, _)| s.to_string()))
            .collect();
        schemas.dedup();
        schemas
    }

    fn in_schema(&self, schema: Option<&str>) -> Vec<String> {
        self.names()
            .into_iter()
            .filter_map(|n| match (n.split_once('.'), schema) {
                (Some((s, t)), Some(wanted)) if s == wanted => Some(t.to_string()),
                (None, None) => Some(n),
                _ => None,
            })
            .collect()
    }

    /// Registers the table in `spec.folder` at its newest version (a
    /// newer snapshot than the one registered replaces it), and returns it.
    pub async fn load(&self, spec: &DeltaTableSpec) -> Result<Arc<DeltaHandle>> {
        if let Some(handle) = self.get(&spec.name) {
            handle.current().await?;
            return Ok(handle);
        }
        let table = super::open(&self.location, &spec.folder, &At::Latest).await?;
        let snapshot = Arc::new(DeltaSnapshotTable::try_new(&self.location, spec, &table).await?);
        Ok(self.adopt(spec, snapshot))
    }

    /// Registers `snapshot` (just committed, or just loaded) as the newest
    /// known version of the table in `spec`.
    pub fn adopt(
        &self,
        spec: &DeltaTableSpec,
        snapshot: Arc<DeltaSnapshotTable>,
    ) -> Arc<DeltaHandle> {
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = tables.get(&spec.name) {
            handle.offer(&snapshot);
            return Arc::clone(handle);
        }
        let handle = Arc::new(DeltaHandle {
            location: self.location.clone(),
            spec: spec.clone(),
            latest: RwLock::new(snapshot),
            versions: RwLock::new(BTreeMap::new()),
            loading: tokio::sync::Mutex::new(()),
            pins: Mutex::new(BTreeMap::new()),
        });
        tables.insert(spec.name.clone(), Arc::clone(&handle));
        handle
    }

    /// The registered table `reference` names, given the session's default
    /// catalog and schema (Delta tables live in the default catalog; a bare
    /// name or one in the default schema is a top-level table).
    pub fn resolve(
        &self,
        reference: &TableReference,
        default_catalog: &str,
        default_schema: &str,
    ) -> Option<Arc<DeltaHandle>> {
        self.get(&sql_name(reference, default_catalog, default_schema)?)
    }

    /// A Delta table of the lake not registered yet: `name` in `schema`
    /// when its folder holds a Delta log. One listing of that log.
    async fn discover(
        &self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Option<Arc<DeltaHandle>>> {
        let valid = |s: &str| crate::lake::check_identifier(s).is_ok();
        if !valid(table) || !schema.is_none_or(valid) {
            return Ok(None);
        }
        let (name, folder) = match schema {
            Some(s) => (format!("{s}.{table}"), format!("{s}/{table}")),
            None => (table.to_string(), table.to_string()),
        };
        if super::latest_version(&self.location, &folder)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(self.load(&DeltaTableSpec { name, folder }).await?))
    }
}

/// The registry name of `reference`: `table` or `schema.table`.
pub fn sql_name(
    reference: &TableReference,
    default_catalog: &str,
    default_schema: &str,
) -> Option<String> {
    if reference.catalog().is_some_and(|c| c != default_catalog) {
        return None;
    }
    Some(match reference.schema() {
        Some(s) if s != default_schema => format!("{s}.{}", reference.table()),
        _ => reference.table().to_string(),
    })
}

/// A Delta table as the catalog hands it out: the newest version at each
/// scan, read with the columns this provider was created with.
#[derive(Debug)]
pub struct LiveDeltaTable {
    handle: Arc<DeltaHandle>,
    schema: SchemaRef,
}

impl LiveDeltaTable {
    /// The table behind this provider.
    pub fn handle(&self) -> &Arc<DeltaHandle> {
        &self.handle
    }
}

#[async_trait]
impl TableProvider for LiveDeltaTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
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
        let snapshot = self
            .handle
            .for_statement(state.execution_props().query_execution_start_time)
            .await
            .map_err(df_error)?;
        snapshot
            .scan_as(
                state,
                &self.schema,
                projection,
                filters,
                limit,
                Missing::Error,
            )
            .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Pushed into the scan to prune files, and applied again above it:
        // the version the scan reads is only known then.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

/// A schema of the session's catalog with the lake's Delta tables in it.
#[derive(Debug)]
pub struct LakeSchema {
    /// Views, Parquet tables and tables created in the session.
    inner: Arc<dyn SchemaProvider>,
    registry: Arc<DeltaTables>,
    /// `None` for the default schema (top-level tables).
    schema: Option<String>,
}

impl LakeSchema {
    fn delta_name(&self, table: &str) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{table}"),
            None => table.to_string(),
        }
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(self.registry.in_schema(self.schema.as_deref()));
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if let Some(found) = self.inner.table(name).await? {
            return Ok(Some(found));
        }
        let handle = match self.registry.get(&self.delta_name(name)) {
            Some(handle) => {
                // The newest version's columns, for the statement being planned.
                handle.current().await.map_err(df_error)?;
                handle
            }
            None => match self
                .registry
                .discover(self.schema.as_deref(), name)
                .await
                .map_err(df_error)?
            {
                Some(handle) => handle,
                None => return Ok(None),
            },
        };
        Ok(Some(handle.provider()))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if self.registry.get(&self.delta_name(&name)).is_some() {
            return exec_err!("The table {name} already exists (a Delta table of the lake)");
        }
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if self.registry.get(&self.delta_name(name)).is_some() {
            return exec_err!(
                "{} is a Delta table of the lake: it cannot be dropped from a session",
                self.delta_name(name)
            );
        }
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name) || self.registry.get(&self.delta_name(name)).is_some()
    }
}

/// The default catalog with the lake's Delta tables in its schemas.
#[derive(Debug)]
pub struct LakeCatalog {
    inner: Arc<dyn CatalogProvider>,
    registry: Arc<DeltaTables>,
    default_schema: String,
}

impl LakeCatalog {
    /// Wraps `inner`: its schemas, and those created later, see the Delta
    /// tables of `registry`.
    pub fn new(
        inner: Arc<dyn CatalogProvider>,
        registry: Arc<DeltaTables>,
        default_schema: &str,
    ) -> DFResult<Self> {
        let catalog = LakeCatalog {
            inner,
            registry,
            default_schema: default_schema.to_string(),
        };
        for name in catalog.inner.schema_names() {
            if let Some(schema) = catalog.inner.schema(&name) {
                catalog.register_schema(&name, schema)?;
            }
        }
        Ok(catalog)
    }

    fn wrap(&self, name: &str, schema: Arc<dyn SchemaProvider>) -> Arc<dyn SchemaProvider> {
        if schema.is::<LakeSchema>() {
            return schema;
        }
        Arc::new(LakeSchema {
            inner: schema,
            registry: Arc::clone(&self.registry),
            schema: (name != self.default_schema).then(|| name.to_string()),
        })
    }
}

impl CatalogProvider for LakeCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.inner.schema_names();
        for schema in self.registry.schemas() {
            if !names.contains(&schema) {
                names.push(schema);
            }
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(found) = self.inner.schema(name) {
            return Some(found);
        }
        // A schema folder whose first Delta table was registered since open
        // (a job run by this process): the schema exists from then on.
        if self.registry.in_schema(Some(name)).is_empty() {
            return None;
        }
        let schema = self.wrap(
            name,
            Arc::new(datafusion::catalog::MemorySchemaProvider::new()),
        );
        let _ = self.inner.register_schema(name, Arc::clone(&schema));
        self.inner.schema(name)
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DFResult<Option<Arc<dyn SchemaProvider>>> {
        let wrapped = self.wrap(name, schema);
        self.inner.register_schema(name, wrapped)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> DFResult<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}
