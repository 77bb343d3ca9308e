//! The customer lake: a folder of Parquet tables on a local disk or an
//! object store, plus an optional `microseg.toml`.
//!
//! ```text
//! lake/
//!   microseg.toml                       optional config (see LakeConfig)
//!   customers/part-0.parquet            table `customers`
//!   orders/order_month=2025-01/x.parquet  table `orders`, partition column order_month
//!   _microseg/ _truth/ .anything/       never tables
//! ```
//!
//! [`Lake::open`] finds the tables and reads every Parquet footer up front,
//! so a broken lake fails at open with a message naming the file, not
//! halfway through a query.

mod config;
mod discover;
mod location;
mod stores;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::datasource::physical_plan::parquet::{
    transform_binary_to_string, transform_schema_to_view,
};
use datafusion::execution::cache::cache_manager::CachedFileMetadataEntry;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::prelude::SessionContext;
use object_store::ObjectMeta;

pub(crate) use config::check_identifier;
pub use config::{
    CONFIG_FILE, DEFAULT_CONSENT_TABLE, DEFAULT_ENTITY_KEY, DEFAULT_MIN_GROUP_SIZE, EngineConfig,
    LakeConfig, PrivacyConfig, PrivacyRoles, ReaderPrivacy, SmallGroups, TableConfig,
    parse_memory_limit,
};
pub use location::{LakeLocation, memory_store};
pub use stores::{EnvStores, env_stores};

use crate::error::Result;

/// An opened, validated lake.
#[derive(Debug, Clone)]
pub struct Lake {
    /// Where the lake is.
    pub location: LakeLocation,
    /// Its configuration (the default one if there is no config file).
    pub config: LakeConfig,
    /// Its Parquet tables, sorted by name; skipped folders are not here.
    pub tables: Vec<TableSpec>,
    /// Its Delta tables (folders with a `_delta_log/`), sorted by name.
    pub delta_tables: Vec<DeltaTableSpec>,
    footers: Footers,
}

/// A Delta table of the lake, found by its `_delta_log/` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaTableSpec {
    /// The SQL name: `folder` or `schema.table` for `schema/table/`, lower-cased.
    pub name: String,
    /// The folder under the lake root, `/`-separated.
    pub folder: String,
}

/// Footers read while validating, handed to the session's metadata cache
/// at registration so the first query does not fetch them all again (one
/// more round trip per file on an object store). Bounded by DataFusion's
/// default cache size so a huge lake doesn't pin its metadata in memory.
#[derive(Clone, Default)]
struct Footers(Vec<(ObjectMeta, Arc<ParquetMetaData>)>);

impl std::fmt::Debug for Footers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Footers({} files)", self.0.len())
    }
}

/// One table of the lake, as found and validated at open.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The SQL name: the folder name lower-cased, or the configured name.
    pub name: String,
    /// The folder under the lake root, as spelled in the store.
    pub folder: String,
    /// The folder's full URL, ending in `/`.
    pub url: String,
    /// The columns stored in the files (partition columns excluded), as
    /// Parquet maps them to Arrow; DataFusion may present strings as views.
    pub schema: SchemaRef,
    /// Hive partition columns from `key=value` folders, outermost first.
    pub partition_cols: Vec<(String, DataType)>,
    /// Number of data files.
    pub files: usize,
    /// Total rows, from the footers.
    pub rows: u64,
    /// Total size of the data files in bytes.
    pub bytes: u64,
    /// The data file suffix, `.parquet` unless configured.
    pub file_extension: String,
}

impl Lake {
    /// Delta tables in folders that held no Parquet table when the lake
    /// was opened (new tables and new schemas committed since), listed now.
    pub async fn delta_tables_now(&self) -> Result<Vec<DeltaTableSpec>> {
        let parquet: Vec<&str> = self.tables.iter().map(|t| t.folder.as_str()).collect();
        discover::delta_tables_outside(&self.location, &self.config, &parquet).await
    }

    /// Parses the location (store settings from the environment), loads the
    /// config (`config_override`, else `microseg.toml` at the lake root if
    /// present), discovers the tables and validates every file.
    pub async fn open(location: &str, config_override: Option<&std::path::Path>) -> Result<Lake> {
        Self::open_location(LakeLocation::parse(location)?, config_override).await
    }

    /// [`Lake::open`] for an already parsed location, e.g. one built with
    /// [`LakeLocation::parse_with_options`].
    pub async fn open_location(
        location: LakeLocation,
        config_override: Option<&std::path::Path>,
    ) -> Result<Lake> {
        let root = discover::list_root(&location).await?;
        let config = match (config_override, &root.config) {
            (Some(path), lake_config) => {
                let config = LakeConfig::load(path).await?;
                // The lake's privacy rules travel with its data: another
                // config may change them, never drop them.
                if config.privacy.is_none()
                    && let Some(own) = lake_config
                {
                    let own_config = discover::read_config(&location, own).await?;
                    if own_config.privacy.is_some() {
                        return Err(crate::error::Error::Config {
                            source_name: config.source_name(),
                            message: format!(
                                "has no [privacy] section but the lake's {} has one; --config may change the lake's privacy rules, not drop them (copy the section)",
                                own_config.source_name()
                            ),
                        });
                    }
                }
                config
            }
            (None, Some(path)) => discover::read_config(&location, path).await?,
            (None, None) => LakeConfig::default(),
        };
        let (tables, delta_tables, footers) = discover::discover(&location, &config, &root).await?;
        Ok(Lake {
            location,
            config,
            tables,
            delta_tables,
            footers,
        })
    }

    /// The table registered under `name`, if any.
    pub fn table(&self, name: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Registers the lake's object store with `ctx`'s runtime and every
    /// Parquet table as a [`ListingTable`] (partition columns included).
    /// Delta tables are in the catalog already ([`crate::delta::attach`]).
    ///
    /// Parquet options come from `ctx`'s table options, so session settings
    /// such as `datafusion.execution.parquet.pushdown_filters` apply.
    pub async fn register(&self, ctx: &SessionContext) -> Result<()> {
        ctx.register_object_store(&self.location.store_url, Arc::clone(&self.location.store));
        let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
        for (meta, metadata) in &self.footers.0 {
            let entry = CachedParquetMetaData::new(Arc::clone(metadata));
            cache.put(
                &meta.location,
                CachedFileMetadataEntry::new(meta.clone(), Arc::new(entry)),
            );
        }
        let parquet_options = ctx.state().table_options().parquet.clone();
        for table in &self.tables {
            let format = ParquetFormat::default().with_options(parquet_options.clone());
            let schema = table_schema(&format, &table.schema);
            let options = ListingOptions::new(Arc::new(format))
                .with_file_extension(table.file_extension.as_str())
                .with_table_partition_cols(table.partition_cols.clone());
            let config = ListingTableConfig::new(ListingTableUrl::parse(&table.url)?)
                .with_listing_options(options)
                .with_schema(schema);
            ctx.register_table(
                table.name.as_str(),
                Arc::new(ListingTable::try_new(config)?),
            )?;
        }
        Ok(())
    }
}

/// The schema DataFusion would have inferred from these files with this
/// format: giving ListingTable anything else would change column types
/// depending on whether the lake or DataFusion did the inference.
fn table_schema(format: &ParquetFormat, file_schema: &SchemaRef) -> SchemaRef {
    let mut schema = file_schema.as_ref().clone();
    if format.binary_as_string() {
        schema = transform_binary_to_string(&schema);
    }
    if format.force_view_types() {
        schema = transform_schema_to_view(&schema);
    }
    Arc::new(schema)
}
