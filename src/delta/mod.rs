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
//! naming complete files, so a half-written run is invisible. Each table is
//! registered once ([`attach`]) as a provider that checks the log when a
//! statement is planned and again when it is scanned ([`live`]), so a
//! long-running server, its views and its prepared statements see new
//! materializations without reopening; `table_at(name, version |
//! timestamp)` reads history ([`time_travel`]).

mod erase;
mod files;
mod live;
mod provider;
mod time_travel;

use std::collections::HashMap;
use std::sync::{Arc, Once};

use chrono::{DateTime, Utc};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionContext;
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, StorageConfig, default_logstore, logstore_factories,
};
use deltalake_core::{DeltaTable, DeltaTableBuilder, ObjectStore};
use url::Url;

pub use erase::{Erased, decode_log_path, erase, unreadable_versions};
pub use files::{DeltaFiles, DeltaFilesTable, pin_files};
pub use live::{DeltaHandle, DeltaTables, LakeCatalog, LakeSchema, LiveDeltaTable};
pub use provider::DeltaSnapshotTable;
pub(crate) use time_travel::bound_provider as bound_table_at;
pub use time_travel::{TABLE_AT, TableAtFunction, TableAtNode, TableAtPlanner};

use crate::error::{Error, Result};
use crate::lake::{DeltaTableSpec, Lake, LakeLocation};

/// The snapshot column `materialize` adds in mode `snapshot`.
pub const AS_OF: &str = "as_of";
/// Table property naming the key column of a materialized segment table.
pub const KEY_PROPERTY: &str = "microseg.key";
/// Table property listing its segment columns, comma-separated.
pub const SEGMENTS_PROPERTY: &str = "microseg.segments";

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

/// Installs the lake's Delta tables in `state`: each table at its newest
/// version in a registry the engine's sessions share, the default catalog
/// wrapped so its schemas resolve Delta tables (and find new ones),
/// `table_at`, `segment_changes` and `segment_flows`, and the query planner
/// that plans `table_at` with a parameter.
pub async fn attach(state: SessionState, lake: &Lake) -> Result<SessionState> {
    let registry = Arc::new(DeltaTables::new(lake.location.clone()));
    for spec in &lake.delta_tables {
        registry.load(spec).await?;
    }
    let options = state.config().options().catalog.clone();
    let catalogs = Arc::clone(state.catalog_list());
    let catalog = catalogs
        .catalog(&options.default_catalog)
        .ok_or_else(|| Error::Usage(format!("no catalog {}", options.default_catalog)))?;
    let catalog = LakeCatalog::new(catalog, Arc::clone(&registry), &options.default_schema)?;
    catalogs.register_catalog(options.default_catalog.clone(), Arc::new(catalog));
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(time_travel::DeltaQueryPlanner))
        .build();
    state.config_mut().set_extension(registry);
    state.register_udtf(TABLE_AT, Arc::new(TableAtFunction));
    Ok(state)
}

/// Makes `table` (just committed by this process) the newest version of
/// the Delta table in `spec` for every session of `ctx`'s engine.
pub async fn committed(
    ctx: &SessionContext,
    location: &LakeLocation,
    spec: &DeltaTableSpec,
    table: &DeltaTable,
) -> Result<()> {
    let Some(registry) = DeltaTables::of(&ctx.state()) else {
        return Ok(());
    };
    let snapshot = DeltaSnapshotTable::try_new(location, spec, table).await?;
    registry.adopt(spec, Arc::new(snapshot));
    Ok(())
}

/// Every object under the table folder `folder`; a failure names what was
/// being `doing` ("listing", "cleaning") and the folder.
pub async fn list_folder(
    location: &LakeLocation,
    folder: &str,
    doing: &str,
) -> Result<Vec<object_store::ObjectMeta>> {
    use futures::TryStreamExt;
    let root = location.path_of(folder);
    location
        .store
        .list(Some(&root))
        .try_collect()
        .await
        .map_err(|e| {
            Error::lake(
                &location.original,
                format!("{doing} {}: {e}", location.display_path(&root)),
            )
        })
}
