//! One Delta version as a plain list of Parquet files, for execution on a
//! cluster.
//!
//! deltalake-core 1.1.3 has no physical codec for its scan, so a Ballista
//! executor cannot run it. The client therefore pins the version a
//! statement reads (as a local scan would), lists that version's data files
//! with their partition values, and sends the list in the plan; the
//! scheduler turns it into DataFusion's own Parquet scan, which every
//! executor can run. This is exact only for tables whose files are the
//! whole truth: a version with deletion vectors or column mapping is
//! refused by name (microseg never writes either).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DFResult, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use serde::{Deserialize, Serialize};

use super::provider::{DeltaSnapshotTable, Missing, scan_mapped};
use crate::lake::LakeLocation;

/// What travels in a plan: one pinned version's data files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeltaFiles {
    /// The SQL name, for messages.
    name: String,
    version: u64,
    /// `scheme://authority/` of the store holding the files.
    store_url: String,
    /// The version's columns (Arrow IPC schema message), partition columns last.
    schema_ipc: Vec<u8>,
    /// How many of the last columns are partition columns.
    partition_count: usize,
    files: Vec<DataFile>,
    /// Whether a planned column this version lacks reads as NULL (`table_at`)
    /// rather than failing.
    missing_null: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DataFile {
    /// Path inside the store.
    path: String,
    size: u64,
    /// Partition values as Delta writes them (text), in column order.
    partition: Vec<Option<String>>,
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// `t` without dictionary wrapping: the file-list scan reads partition
/// values as plain scalars, and the planned type is restored by a cast.
fn plain(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, value) => value.as_ref().clone(),
        other => other.clone(),
    }
}

impl DeltaSnapshotTable {
    /// This version's data files, for a scan on a cluster; `missing` as in
    /// [`DeltaSnapshotTable::scan_as`].
    pub(crate) fn files(&self, location: &LakeLocation, missing: Missing) -> DFResult<DeltaFiles> {
        if let Some(mode) = self.property("delta.columnMapping.mode")
            && !mode.eq_ignore_ascii_case("none")
        {
            return plan_err!(
                "Delta table {} (version {}) uses column mapping ({mode}), which cannot be read on a cluster yet",
                self.name,
                self.version
            );
        }
        let own = self.schema();
        let mut data: Vec<Field> = Vec::new();
        let mut partition: Vec<Field> = Vec::new();
        for field in own.fields() {
            let field = Field::new(field.name(), plain(field.data_type()), field.is_nullable());
            if self.partition_columns.contains(field.name()) {
                partition.push(field);
            } else {
                data.push(field);
            }
        }
        // Partition columns in the table's order, as Delta lists them.
        partition.sort_by_key(|f| {
            self.partition_columns
                .iter()
                .position(|p| p == f.name())
                .unwrap_or(usize::MAX)
        });
        let partition_count = partition.len();
        let names: Vec<String> = partition.iter().map(|f| f.name().clone()).collect();
        data.extend(partition);
        let schema = Schema::new(data);
        let mut schema_ipc = Vec::new();
        StreamWriter::try_new(&mut schema_ipc, &schema)
            .and_then(|mut w| w.finish())
            .map_err(external)?;

        let state = self.table().snapshot().map_err(external)?;
        let mut files = Vec::new();
        for file in state.log_data().iter() {
            if file.deletion_vector_descriptor().is_some() {
                return plan_err!(
                    "Delta table {} (version {}) has deletion vectors (file {}), which cannot be read on a cluster yet",
                    self.name,
                    self.version,
                    file.path()
                );
            }
            let relative = file.path();
            if relative.contains("://") {
                return plan_err!(
                    "Delta table {} (version {}) names a file outside its folder ({relative}), which cannot be read on a cluster yet",
                    self.name,
                    self.version
                );
            }
            let values = file.partition_values_map();
            files.push(DataFile {
                path: location
                    .path_of(&format!("{}/{relative}", self.folder))
                    .to_string(),
                size: u64::try_from(file.size()).unwrap_or_default(),
                partition: names
                    .iter()
                    .map(|n| values.get(n).cloned().flatten())
                    .collect(),
            });
        }
        Ok(DeltaFiles {
            name: self.name.clone(),
            version: self.version,
            store_url: location.store_url.to_string(),
            schema_ipc,
            partition_count,
            files,
            missing_null: missing == Missing::Null,
        })
    }
}

impl DeltaFiles {
    /// The wire form.
    pub fn encode(&self) -> DFResult<Vec<u8>> {
        serde_json::to_vec(self).map_err(external)
    }

    /// Back from [`DeltaFiles::encode`].
    pub fn decode(buf: &[u8]) -> DFResult<Self> {
        serde_json::from_slice(buf).map_err(external)
    }
}

/// A pinned Delta version read from its file list, with the columns the
/// statement was planned with.
#[derive(Debug)]
pub struct DeltaFilesTable {
    /// The planned columns.
    schema: SchemaRef,
    list: Arc<FileList>,
}

/// The listed files in the version's own columns: what [`scan_mapped`]
/// maps the planned columns onto.
#[derive(Debug)]
struct FileList {
    files: DeltaFiles,
    /// The version's own columns, partition columns last.
    own: SchemaRef,
}

impl DeltaFilesTable {
    /// `files` read as a table with columns `schema`.
    pub fn try_new(files: DeltaFiles, schema: SchemaRef) -> DFResult<Self> {
        let reader = StreamReader::try_new(std::io::Cursor::new(&files.schema_ipc), None)
            .map_err(external)?;
        let own = reader.schema();
        if files.partition_count > own.fields().len() {
            return plan_err!("Delta table {}: malformed file list", files.name);
        }
        Ok(Self {
            schema,
            list: Arc::new(FileList { files, own }),
        })
    }

    /// What travels in the plan.
    pub fn files(&self) -> &DeltaFiles {
        &self.list.files
    }
}

impl FileList {
    /// DataFusion's Parquet scan of the listed files, in the version's own
    /// columns (`projection` indexes them).
    fn parquet_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let split = self.own.fields().len() - self.files.partition_count;
        let data = Arc::new(Schema::new(self.own.fields()[..split].to_vec()));
        let partition_fields: Vec<_> = self.own.fields()[split..].to_vec();
        let mut files = Vec::with_capacity(self.files.files.len());
        for file in &self.files.files {
            let mut values = Vec::with_capacity(partition_fields.len());
            for (field, text) in partition_fields.iter().zip(&file.partition) {
                let value = match text {
                    None => ScalarValue::try_from(field.data_type())?,
                    Some(text) => ScalarValue::try_from_string(text.clone(), field.data_type())
                        .map_err(|e| {
                            DataFusionError::Plan(format!(
                                "Delta table {}: partition value {text:?} of column {} is not a {}: {e}",
                                self.files.name,
                                field.name(),
                                field.data_type()
                            ))
                        })?,
                };
                values.push(value);
            }
            files.push(
                PartitionedFile::new(file.path.clone(), file.size).with_partition_values(values),
            );
        }
        let groups = state.config().target_partitions().max(1);
        let mut file_groups: Vec<Vec<PartitionedFile>> =
            vec![Vec::new(); groups.min(files.len().max(1))];
        let count = file_groups.len();
        for (i, file) in files.into_iter().enumerate() {
            file_groups[i % count].push(file);
        }
        let source = ParquetSource::new(
            TableSchema::builder(data)
                .with_table_partition_cols(partition_fields)
                .build(),
        )
        .with_table_parquet_options(state.table_options().parquet.clone());
        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::parse(&self.files.store_url)?,
            Arc::new(source),
        )
        .with_file_groups(file_groups.into_iter().map(FileGroup::new).collect())
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

#[async_trait]
impl TableProvider for FileList {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.own)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        self.parquet_scan(state, projection, limit)
    }
}

#[async_trait]
impl TableProvider for DeltaFilesTable {
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
        let files = &self.list.files;
        let missing = if files.missing_null {
            Missing::Null
        } else {
            Missing::Error
        };
        scan_mapped(
            self.list.as_ref(),
            &files.name,
            files.version,
            state,
            &self.schema,
            projection,
            filters,
            limit,
            missing,
        )
        .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

/// For a client whose plans run on a cluster: the lake's Delta table behind
/// `provider` (the catalog's table or a constant `table_at`) pinned to the
/// version the statement started at `started` reads, as a file list with
/// the provider's columns. `None` when `provider` is not a Delta table.
pub async fn pin_files(
    provider: &dyn TableProvider,
    started: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<DFResult<DeltaFilesTable>> {
    let schema = provider.schema();
    let (handle, snapshot, missing) =
        if let Some(live) = provider.downcast_ref::<super::LiveDeltaTable>() {
            let handle = Arc::clone(live.handle());
            let snapshot = handle
                .for_statement(started)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)));
            (handle, snapshot, Missing::Error)
        } else {
            match super::time_travel::pinned(provider).await? {
                Ok((handle, snapshot)) => (handle, Ok(snapshot), Missing::Null),
                Err(e) => return Some(Err(e)),
            }
        };
    Some(snapshot.and_then(|snapshot| {
        let files = snapshot.files(handle.location(), missing)?;
        DeltaFilesTable::try_new(files, schema)
    }))
}
