//! Delta Lake tables in the lake: the tables `microseg materialize` writes,
//! and any other Delta table (Spark, delta-rs, Databricks) dropped in.
//!
//! A folder holding `_delta_log/` is a Delta table; one level down
//! (`segments/customer_segments/_delta_log/`) it is a table in a schema
//! (`segments.customer_segments`). Tables are opened through the lake's
//! own object store, so credentials and the `memory://` test stores work
//! the same as for Parquet tables.
//!
//! Readers always see a committed version: a Delta version is a log entry
//! naming complete files, so a half-written run is invisible. Each
//! statement that names a Delta table checks the log for a newer version
//! first ([`refresh`]), so a long-running server sees new materializations
//! without reopening; `table_at(name, version | timestamp)` reads history.

pub mod history;
mod provider;
mod time_travel;

use std::collections::HashMap;
use std::sync::{Arc, Once};

use chrono::{DateTime, Utc};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, StorageConfig, default_logstore, logstore_factories,
};
use deltalake_core::{DeltaTable, DeltaTableBuilder, ObjectStore};
use url::Url;

pub use provider::DeltaSnapshotTable;
pub use time_travel::{TABLE_AT, TableAtFunction, VersionCache};

use crate::error::{Error, Result};
use crate::lake::{DeltaTableSpec, LakeLocation};

/// Which version of a Delta table to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum At {
    /// The newest committed version.
    Latest,
    /// A version number (the first commit is version 0).
    Version(u64),
    /// The version that was current at this instant.
    Timestamp(DateTime<Utc>),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Latest => write!(f, "latest version"),
            At::Version(v) => write!(f, "version {v}"),
            At::Timestamp(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

/// delta-rs only knows `file://` and `memory://` without its cloud crates;
/// the lake already has a configured store for every scheme it accepts, and
/// the default log store commits with put-if-absent, which S3, GCS and
/// Azure all provide, so the same log store serves them all.
#[derive(Debug, Default)]
struct LakeLogStores;

impl LogStoreFactory for LakeLogStores {
    fn with_options(
        &self,
        prefixed_store: Arc<dyn ObjectStore>,
        root_store: Arc<dyn ObjectStore>,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let registry = logstore_factories();
        for scheme in ["s3", "s3a", "gs", "az", "abfs", "abfss"] {
            if let Ok(url) = Url::parse(&format!("{scheme}://")) {
                registry.insert(url, Arc::new(LakeLogStores));
            }
        }
    });
}

/// The URL of a folder of the lake, as delta-rs wants it.
pub fn table_url(location: &LakeLocation, folder: &str) -> Result<Url> {
    let text = location.url_of(folder);
    Url::parse(&text)
        .map_err(|e| Error::lake(&location.original, format!("bad table URL {text}: {e}")))
}

/// Opens the Delta table in `folder` (relative to the lake root) at `at`.
pub async fn open(location: &LakeLocation, folder: &str, at: &At) -> Result<DeltaTable> {
    register_log_stores();
    let url = table_url(location, folder)?;
    let fail = |e: deltalake_core::DeltaTableError| {
        Error::lake(
            &location.original,
            format!("Delta table {folder} at {at}: {e}"),
        )
    };
    let mut builder = DeltaTableBuilder::from_url(url.clone())
        .map_err(fail)?
        .with_storage_backend(Arc::clone(&location.store), url);
    builder = match at {
        At::Latest => builder,
        At::Version(v) => builder.with_version(*v),
        At::Timestamp(t) => builder.with_timestamp(*t),
    };
    builder.load().await.map_err(fail)
}

/// A handle on the table's log without loading a snapshot: for a new
/// table's first write, and for reading the latest version number.
pub fn uninitialized(location: &LakeLocation, folder: &str) -> Result<DeltaTable> {
    register_log_stores();
    let url = table_url(location, folder)?;
    DeltaTableBuilder::from_url(url.clone())
        .and_then(|b| {
            b.with_storage_backend(Arc::clone(&location.store), url)
                .build()
        })
        .map_err(|e| Error::lake(&location.original, format!("Delta table {folder}: {e}")))
}

/// The newest committed version of the Delta table in `folder`, `None`
/// if it has no commit (no table there): one listing of its log.
pub async fn latest_version(location: &LakeLocation, folder: &str) -> Result<Option<u64>> {
    let table = uninitialized(location, folder)?;
    Ok(table.get_latest_version().await.ok())
}

/// Where microseg keeps what it knows about a Delta table it writes (the
/// key and segment columns): Delta's own table properties only take keys
/// delta-rs knows, so these live beside our other metadata.
fn sidecar_path(location: &LakeLocation, folder: &str) -> object_store::path::Path {
    location.path_of(&format!("_microseg/tables/{folder}.json"))
}

/// The `microseg.*` properties of the Delta table in `folder` (empty if
/// no job wrote it).
pub async fn read_properties(
    location: &LakeLocation,
    folder: &str,
) -> Result<HashMap<String, String>> {
    use object_store::ObjectStoreExt;
    let path = sidecar_path(location, folder);
    let fail = |e: String| {
        Error::lake(
            &location.original,
            format!("{}: {e}", location.display_path(&path)),
        )
    };
    match location.store.get(&path).await {
        Ok(got) => {
            let bytes = got.bytes().await.map_err(|e| fail(e.to_string()))?;
            serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(HashMap::new()),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Records the `microseg.*` properties of the Delta table in `folder`.
pub async fn write_properties(
    location: &LakeLocation,
    folder: &str,
    properties: &HashMap<String, String>,
) -> Result<()> {
    use object_store::ObjectStoreExt;
    let path = sidecar_path(location, folder);
    let sorted: std::collections::BTreeMap<_, _> = properties.iter().collect();
    let bytes = serde_json::to_vec_pretty(&sorted).unwrap_or_default();
    location.store.put(&path, bytes.into()).await.map_err(|e| {
        Error::lake(
            &location.original,
            format!("{}: {e}", location.display_path(&path)),
        )
    })?;
    Ok(())
}

/// The `TableReference` a Delta table is registered under.
fn reference(name: &str) -> TableReference {
    match name.split_once('.') {
        Some((schema, table)) => TableReference::partial(schema, table),
        None => TableReference::bare(name),
    }
}

/// Registers a loaded Delta table as `name` (`schema.table` or `table`),
/// creating the schema in the default catalog if needed, and returns the
/// provider so callers can read its version.
pub async fn register(
    ctx: &SessionContext,
    location: &LakeLocation,
    spec: &DeltaTableSpec,
    table: &DeltaTable,
) -> Result<Arc<DeltaSnapshotTable>> {
    let provider = Arc::new(DeltaSnapshotTable::try_new(ctx, location, spec, table).await?);
    if let Some((schema, _)) = spec.name.split_once('.') {
        let catalog_name = ctx
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone();
        let catalog = ctx
            .catalog(&catalog_name)
            .ok_or_else(|| Error::Usage(format!("no catalog {catalog_name}")))?;
        if catalog.schema(schema).is_none() {
            catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
        }
    }
    let reference = reference(&spec.name);
    ctx.deregister_table(reference.clone())?;
    ctx.register_table(reference, Arc::clone(&provider) as Arc<dyn TableProvider>)?;
    Ok(provider)
}

/// Makes every Delta table a statement names current: a table with a newer
/// commit is reloaded, and a name that is not registered yet but has a
/// Delta log in the lake (a first materialization while a server runs) is
/// registered. One listing of the log per Delta table named.
pub async fn refresh(
    ctx: &SessionContext,
    location: &LakeLocation,
    names: impl IntoIterator<Item = String>,
) -> Result<()> {
    let mut seen = HashMap::new();
    for name in names {
        let name = name.to_lowercase();
        if seen.insert(name.clone(), ()).is_some() {
            continue;
        }
        let reference = reference(&name);
        let registered = ctx.table_provider(reference.clone()).await.ok();
        let current = registered.as_ref().and_then(|p| {
            let any: &dyn std::any::Any = p.as_ref();
            any.downcast_ref::<DeltaSnapshotTable>().map(|d| d.version)
        });
        if registered.is_some() && current.is_none() {
            continue; // a Parquet table or a view: not ours to refresh
        }
        let folder = name.replace('.', "/");
        let spec = DeltaTableSpec {
            name: name.clone(),
            folder: folder.clone(),
        };
        let Some(latest) = latest_version(location, &folder).await? else {
            continue; // not a Delta table: DataFusion reports unknown names
        };
        if current == Some(latest) {
            continue;
        }
        let table = open(location, &folder, &At::Version(latest)).await?;
        register(ctx, location, &spec, &table).await?;
    }
    Ok(())
}

/// The table names a statement's relations use (lower-cased unless quoted),
/// table functions' names included.
pub fn named_tables(statement: &datafusion::sql::parser::Statement) -> Vec<String> {
    use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
    use datafusion::sql::sqlparser::ast::{Visit, visit_relations};
    use std::ops::ControlFlow;

    fn collect<V: Visit>(node: &V, names: &mut Vec<String>) {
        let _ = visit_relations(node, |name| {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| {
                    if i.quote_style.is_some() {
                        i.value.clone()
                    } else {
                        i.value.to_lowercase()
                    }
                })
                .collect();
            names.push(parts.join("."));
            ControlFlow::<()>::Continue(())
        });
    }

    let mut names = Vec::new();
    match statement {
        DFStatement::Statement(s) => collect(s.as_ref(), &mut names),
        DFStatement::CopyTo(copy) => {
            if let CopyToSource::Query(q) = &copy.source {
                collect(q.as_ref(), &mut names)
            }
        }
        DFStatement::Explain(explain) => names.extend(named_tables(explain.statement.as_ref())),
        _ => {}
    }
    names
}

/// Brings the Delta tables a statement uses up to date and loads the
/// versions its `table_at` calls ask for; runs before planning.
pub async fn prepare(
    ctx: &SessionContext,
    location: &LakeLocation,
    cache: &VersionCache,
    statement: &mut datafusion::sql::parser::Statement,
) -> Result<()> {
    let mut names = named_tables(statement);
    for func in [history::CHANGES, history::FLOWS] {
        for args in crate::models::lookalike::calls_of(statement, func)? {
            if let Some(name) = args
                .first()
                .and_then(crate::catalog::rewrite::string_literal)
            {
                names.push(name.to_lowercase());
            }
        }
    }
    refresh(ctx, location, names).await?;
    time_travel::load(ctx, location, cache, statement).await
}

/// Registers `table_at`, `segment_changes` and `segment_flows` with `ctx`.
pub fn register_functions(ctx: &SessionContext, cache: &VersionCache) {
    ctx.register_udtf(
        TABLE_AT,
        Arc::new(TableAtFunction {
            cache: cache.clone(),
        }),
    );
    ctx.register_udtf(history::CHANGES, Arc::new(history::SegmentChangesFunction));
    ctx.register_udtf(history::FLOWS, Arc::new(history::SegmentFlowsFunction));
}
