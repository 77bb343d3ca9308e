//! Finding the tables of a lake and checking their Parquet files agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::DEFAULT_METADATA_CACHE_LIMIT;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::ParquetMetaData;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::config::{CONFIG_FILE, LakeConfig, check_identifier};
use super::location::LakeLocation;
use super::{DeltaTableSpec, Footers, TableSpec};
use crate::error::{Error, Result};

/// How many listings or footer reads are in flight at once: enough to hide
/// object-store latency, few enough not to trip request throttling.
const CONCURRENCY: usize = 16;

/// Parquet footers are usually a few KiB; one suffix read of this size gets
/// most of them in a single request.
const FOOTER_HINT: usize = 64 * 1024;

/// What sits directly under the lake root.
pub(crate) struct Root {
    /// Top-level folder names, hidden ones included.
    pub folders: Vec<String>,
    /// `microseg.toml` at the root, if there is one.
    pub config: Option<Path>,
}

/// Folders and files whose names start with these are never data: our own
/// `_microseg/`, ground truth `_truth/`, `_SUCCESS` markers, `.crc` files,
/// `_temporary/` and `.spark-staging/` folders of writers.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Lists the lake root; fails if there is nothing there.
pub(crate) async fn list_root(location: &LakeLocation) -> Result<Root> {
    let prefix = (!location.prefix.is_root()).then_some(&location.prefix);
    let listing = location
        .store
        .list_with_delimiter(prefix)
        .await
        .map_err(|e| {
            Error::lake(
                &location.original,
                format!("cannot list {}: {e}", location.display_root()),
            )
        })?;
    if listing.common_prefixes.is_empty() && listing.objects.is_empty() {
        // Object stores have no directories: an empty prefix is a missing one.
        return Err(if location.is_local() {
            empty_lake(location)
        } else {
            Error::lake(
                &location.original,
                format!(
                    "does not exist: there are no objects under {}",
                    location.url_of("")
                ),
            )
        });
    }
    let mut config = None;
    for object in listing.objects {
        match object.location.filename() {
            Some(CONFIG_FILE) => config = Some(object.location),
            Some(name) if !is_hidden(name) && name.ends_with(".parquet") => log::warn!(
                "lake {}: {} is not inside a table folder; ignored",
                location.original,
                location.display_path(&object.location)
            ),
            _ => {}
        }
    }
    let mut folders: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect();
    folders.sort();
    Ok(Root { folders, config })
}

pub(crate) fn empty_lake(location: &LakeLocation) -> Error {
    Error::lake(
        &location.original,
        "is empty: no folder with Parquet files under it",
    )
}

/// Reads the lake's own `microseg.toml` from the store.
pub(crate) async fn read_config(location: &LakeLocation, path: &Path) -> Result<LakeConfig> {
    let source_name = location.display_path(path);
    let fail = |message: String| Error::Config {
        source_name: source_name.clone(),
        message,
    };
    let bytes = async { location.store.get(path).await?.bytes().await }
        .await
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| fail("is not UTF-8 text".into()))?;
    LakeConfig::from_toml(&text, &source_name)
}

/// One data file of a table, before its footer is read.
struct DataFile {
    meta: ObjectMeta,
    /// `key=value` folders between the table folder and the file, in order.
    partitions: Vec<(String, String)>,
}

/// A table folder with its data files, before validation.
struct Candidate {
    name: String,
    folder: String,
    file_extension: String,
    partition_cols: Vec<(String, DataType)>,
    /// Sorted by path, so "first file" and error messages are deterministic.
    files: Vec<DataFile>,
}

/// What a footer says about a file.
struct Footer {
    schema: Schema,
    rows: u64,
    metadata: Arc<ParquetMetaData>,
}

/// Finds, validates and describes every table of the lake; also returns
/// the footers read, for [`Footers`].
pub(crate) async fn discover(
    location: &LakeLocation,
    config: &LakeConfig,
    root: &Root,
) -> Result<(Vec<TableSpec>, Vec<DeltaTableSpec>, Footers)> {
    check_config_tables(config, root)?;

    let folders: Vec<&String> = root
        .folders
        .iter()
        .filter(|f| !is_hidden(f))
        .filter(|f| !config.tables.get(f.as_str()).is_some_and(|t| t.skip))
        .collect();
    let found: Vec<Found> = futures::stream::iter(folders)
        .map(|folder| candidate(location, config, folder))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut candidates = Vec::new();
    let mut delta = Vec::new();
    for f in found {
        candidates.extend(f.parquet);
        delta.extend(f.delta);
    }
    if candidates.is_empty() && delta.is_empty() {
        return Err(empty_lake(location));
    }
    check_unique_names(location, &candidates)?;

    let jobs: Vec<(usize, usize)> = candidates
        .iter()
        .enumerate()
        .flat_map(|(t, c)| (0..c.files.len()).map(move |f| (t, f)))
        .collect();
    let footers: Vec<(usize, usize, Footer)> = futures::stream::iter(jobs)
        .map(|(t, f)| {
            let meta = &candidates[t].files[f].meta;
            async move { Ok::<_, Error>((t, f, read_footer(location, meta).await?)) }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut by_table: Vec<Vec<Option<Footer>>> = candidates
        .iter()
        .map(|c| c.files.iter().map(|_| None).collect())
        .collect();
    for (t, f, footer) in footers {
        by_table[t][f] = Some(footer);
    }

    let mut kept = Footers::default();
    let mut budget = DEFAULT_METADATA_CACHE_LIMIT;
    let mut tables = Vec::with_capacity(candidates.len());
    for (candidate, footers) in candidates.into_iter().zip(by_table) {
        let footers: Vec<Footer> = footers.into_iter().flatten().collect();
        for (file, footer) in candidate.files.iter().zip(&footers) {
            let size = footer.metadata.memory_size();
            if size <= budget {
                budget -= size;
                kept.0
                    .push((file.meta.clone(), Arc::clone(&footer.metadata)));
            }
        }
        tables.push(table_spec(location, candidate, footers)?);
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    delta.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tables, delta, kept))
}

/// The Delta tables under the lake's top-level folders other than
/// `except` (folders already known to hold Parquet tables): for finding
/// Delta tables committed after the lake was opened.
pub(crate) async fn delta_tables_outside(
    location: &LakeLocation,
    config: &LakeConfig,
    except: &[&str],
) -> Result<Vec<DeltaTableSpec>> {
    let root = list_root(location).await?;
    let folders: Vec<String> = root
        .folders
        .into_iter()
        .filter(|f| !is_hidden(f) && !except.contains(&f.as_str()))
        .filter(|f| !config.tables.get(f.as_str()).is_some_and(|t| t.skip))
        .collect();
    // One folder at a time: this runs only when a statement names a table
    // that is not there, and a plain loop keeps the future Send for the
    // server's handlers.
    let mut delta = Vec::new();
    for folder in &folders {
        delta.extend(candidate(location, config, folder).await?.delta);
    }
    Ok(delta)
}

/// Every `[tables.X]` must name a folder that exists: a typo would
/// otherwise silently do nothing.
fn check_config_tables(config: &LakeConfig, root: &Root) -> Result<()> {
    for key in config.tables.keys() {
        let message = if is_hidden(key) {
            format!("tables.{key}: folders starting with '_' or '.' are never tables")
        } else if !root.folders.contains(key) {
            let folders: Vec<&str> = root
                .folders
                .iter()
                .filter(|f| !is_hidden(f))
                .map(String::as_str)
                .collect();
            format!(
                "tables.{key}: there is no folder {key:?} under the lake (folders: {})",
                folders.join(", ")
            )
        } else {
            continue;
        };
        return Err(Error::Config {
            source_name: config.source_name(),
            message,
        });
    }
    Ok(())
}

/// What a top-level folder holds: a Parquet table, Delta tables, or both
/// (a folder of Delta tables is a schema: `segments/customer_segments/`
/// is the table `segments.customer_segments`).
struct Found {
    parquet: Option<Candidate>,
    delta: Vec<DeltaTableSpec>,
}

/// The Delta table roots under a folder: the relative directories (empty
/// for the folder itself, one level for a schema's tables) that hold a
/// `_delta_log/`. Deeper ones are not tables of ours.
fn delta_roots(objects: &[ObjectMeta], folder_path: &Path) -> BTreeSet<Vec<String>> {
    objects
        .iter()
        .filter_map(|meta| {
            let parts: Vec<String> = meta
                .location
                .prefix_match(folder_path)?
                .map(|p| p.as_ref().to_string())
                .collect();
            let at = parts.iter().position(|p| p == DELTA_LOG)?;
            (at <= 1 && at + 1 < parts.len()).then(|| parts[..at].to_vec())
        })
        .collect()
}

/// The Delta log folder that makes a folder a Delta table.
pub(crate) const DELTA_LOG: &str = "_delta_log";

/// Lists a top-level folder: its Parquet table (`None`, with a warning, if
/// it holds no data files outside Delta tables) and its Delta tables.
async fn candidate(location: &LakeLocation, config: &LakeConfig, folder: &str) -> Result<Found> {
    let table_config = config.tables.get(folder).cloned().unwrap_or_default();
    let extension = table_config.file_extension().to_string();
    let folder_path = location.path_of(folder);
    let objects: Vec<ObjectMeta> = location
        .store
        .list(Some(&folder_path))
        .try_collect()
        .await
        .map_err(|e| {
            Error::lake(
                &location.original,
                format!("cannot list {}: {e}", location.display_path(&folder_path)),
            )
        })?;

    let roots = delta_roots(&objects, &folder_path);
    let mut delta = Vec::new();
    for root in &roots {
        let spec = delta_spec(location, folder, root)?;
        delta.push(spec);
    }
    if roots.contains(&Vec::new()) {
        return Ok(Found {
            parquet: None,
            delta,
        });
    }

    let mut files = Vec::new();
    for meta in objects {
        let Some(parts) = meta.location.prefix_match(&folder_path) else {
            continue;
        };
        let parts: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
        let Some((file_name, dirs)) = parts.split_last() else {
            continue;
        };
        // A Delta table's files belong to its log, not to a Parquet listing.
        if dirs
            .first()
            .is_some_and(|d| roots.contains(&vec![d.clone()]))
        {
            continue;
        }
        // Hidden folders are writers' scratch space; DataFusion skips them
        // too (they are not key=value folders).
        if dirs.iter().any(|d| is_hidden(d)) {
            continue;
        }
        // The extension alone decides what DataFusion reads, so it alone
        // decides what we validate: `_SUCCESS` and `.crc` files fall out here,
        // but a `_x.parquet` would be scanned and so must be checked.
        if !file_name.ends_with(&extension) {
            continue;
        }
        let mut partitions = Vec::with_capacity(dirs.len());
        for dir in dirs {
            match dir.split_once('=') {
                Some((key, value)) if !key.is_empty() => {
                    partitions.push((key.to_string(), value.to_string()))
                }
                _ => {
                    return Err(Error::lake(
                        &location.original,
                        format!(
                            "table {folder}: file {} is inside folder {dir:?}, which is not a key=value partition folder",
                            location.display_path(&meta.location)
                        ),
                    ));
                }
            }
        }
        files.push(DataFile { meta, partitions });
    }
    if files.is_empty() {
        if delta.is_empty() {
            log::warn!(
                "lake {}: folder {folder} has no {extension} files; it is not a table",
                location.original
            );
        }
        return Ok(Found {
            parquet: None,
            delta,
        });
    }
    files.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));

    let renamed = table_config.name.as_deref();
    let name = renamed.unwrap_or(folder).to_lowercase();
    if let Err(why) = check_identifier(&name) {
        return Err(Error::lake(
            &location.original,
            format!(
                "folder {folder:?} is not a valid table name: {why}; rename the folder, or give it a name with [tables.\"{folder}\"] name = \"...\" in {CONFIG_FILE}"
            ),
        ));
    }
    let partition_types = table_config.partition_data_types(folder, &config.source_name())?;
    let partition_cols = check_layout(location, config, folder, &files, &partition_types)?;
    Ok(Found {
        parquet: Some(Candidate {
            name,
            folder: folder.to_string(),
            file_extension: extension,
            partition_cols,
            files,
        }),
        delta,
    })
}

/// A Delta table found at `folder/root…`: `folder` alone is a table named
/// after it; `folder/sub` is table `sub` in schema `folder`.
fn delta_spec(location: &LakeLocation, folder: &str, root: &[String]) -> Result<DeltaTableSpec> {
    let mut parts = vec![folder.to_string()];
    parts.extend(root.iter().cloned());
    for part in &parts {
        if let Err(why) = check_identifier(&part.to_lowercase()) {
            return Err(Error::lake(
                &location.original,
                format!(
                    "Delta table folder {:?} is not a valid SQL name: {why}; rename the folder",
                    parts.join("/")
                ),
            ));
        }
    }
    Ok(DeltaTableSpec {
        name: parts.join(".").to_lowercase(),
        folder: parts.join("/"),
    })
}

/// Checks every file of a table sits under the same `key=value` levels and
/// that typed partition values parse; returns the partition columns.
fn check_layout(
    location: &LakeLocation,
    config: &LakeConfig,
    folder: &str,
    files: &[DataFile],
    partition_types: &BTreeMap<String, DataType>,
) -> Result<Vec<(String, DataType)>> {
    let fail =
        |message: String| Error::lake(&location.original, format!("table {folder}: {message}"));
    let show = |f: &DataFile| location.display_path(&f.meta.location);
    let keys = |f: &DataFile| {
        f.partitions
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    let describe = |keys: &[String]| match keys {
        [] => "is not partitioned (it sits directly in the table folder)".to_string(),
        keys => format!("is partitioned by ({})", keys.join(", ")),
    };
    let first = &files[0];
    let first_keys = keys(first);
    for file in &files[1..] {
        let these = keys(file);
        if these != first_keys {
            return Err(fail(format!(
                "file {} {} but file {} {}",
                show(file),
                describe(&these),
                show(first),
                describe(&first_keys)
            )));
        }
    }
    let mut seen = BTreeSet::new();
    if let Some(k) = first_keys.iter().find(|k| !seen.insert(k.as_str())) {
        return Err(fail(format!(
            "file {} has partition key {k} twice in its path",
            show(first)
        )));
    }
    for column in partition_types.keys() {
        if !first_keys.contains(column) {
            return Err(Error::Config {
                source_name: config.source_name(),
                message: format!(
                    "tables.{folder}.partition_types.{column}: table {folder} has no partition column {column} ({})",
                    match first_keys.as_slice() {
                        [] => "it is not partitioned".to_string(),
                        keys => format!("its partition columns are {}", keys.join(", ")),
                    }
                ),
            });
        }
    }
    let partition_cols: Vec<(String, DataType)> = first_keys
        .iter()
        .map(|k| {
            let ty = partition_types.get(k).cloned().unwrap_or(DataType::Utf8);
            (k.clone(), ty)
        })
        .collect();
    for file in files {
        for ((key, value), (_, ty)) in file.partitions.iter().zip(&partition_cols) {
            if *ty == DataType::Utf8 {
                continue;
            }
            // Same decoding DataFusion applies to path values at scan time.
            if let Err(e) = ScalarValue::try_from_string(percent_decode(value), ty) {
                return Err(fail(format!(
                    "file {} has partition value {key}={value}, which is not a valid {ty}: {e}",
                    show(file)
                )));
            }
        }
    }
    Ok(partition_cols)
}

fn check_unique_names(location: &LakeLocation, candidates: &[Candidate]) -> Result<()> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for c in candidates {
        if let Some(other) = seen.insert(&c.name, &c.folder) {
            return Err(Error::lake(
                &location.original,
                format!(
                    "folders {other:?} and {:?} would both be table {}; rename one (folder, or name in {CONFIG_FILE})",
                    c.folder, c.name
                ),
            ));
        }
    }
    Ok(())
}

async fn read_footer(location: &LakeLocation, meta: &ObjectMeta) -> Result<Footer> {
    let file = || location.display_path(&meta.location);
    let metadata = DFParquetMetadata::new(location.store.as_ref(), meta)
        .with_metadata_size_hint(Some(FOOTER_HINT))
        .fetch_metadata()
        .await
        .map_err(|e| {
            let message = match e {
                DataFusionError::ObjectStore(e) => format!("cannot read file {}: {e}", file()),
                // Both DataFusion and parquet prefix "Parquet error: ".
                e => format!(
                    "file {} is not a valid Parquet file: {}",
                    file(),
                    e.to_string().trim_start_matches("Parquet error: ")
                ),
            };
            Error::lake(&location.original, message)
        })?;
    let file_metadata = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(
        file_metadata.schema_descr(),
        file_metadata.key_value_metadata(),
    )
    .map_err(|e| {
        Error::lake(
            &location.original,
            format!("file {} has a schema Arrow cannot read: {e}", file()),
        )
    })?;
    Ok(Footer {
        schema,
        rows: u64::try_from(file_metadata.num_rows()).unwrap_or(0),
        metadata,
    })
}

/// Checks a table's files agree on partitions and columns, and merges them
/// into the table's description.
fn table_spec(
    location: &LakeLocation,
    candidate: Candidate,
    footers: Vec<Footer>,
) -> Result<TableSpec> {
    let folder = &candidate.folder;
    let fail =
        |message: String| Error::lake(&location.original, format!("table {folder}: {message}"));
    let show = |f: &DataFile| location.display_path(&f.meta.location);
    let first = &candidate.files[0];
    let partition_keys: Vec<&String> = candidate.partition_cols.iter().map(|(k, _)| k).collect();

    // Columns: every file has the same names with the same types.
    let reference = &footers[0].schema;
    for (file, footer) in candidate.files.iter().zip(&footers) {
        let mut names = BTreeSet::new();
        for field in footer.schema.fields() {
            if !names.insert(field.name().as_str()) {
                return Err(fail(format!(
                    "file {} has column {} twice",
                    show(file),
                    field.name()
                )));
            }
        }
    }
    for (file, footer) in candidate.files.iter().zip(&footers).skip(1) {
        for field in reference.fields() {
            match footer.schema.field_with_name(field.name()) {
                Err(_) => {
                    return Err(fail(format!(
                        "file {} lacks column {} present in file {}",
                        show(file),
                        field.name(),
                        show(first)
                    )));
                }
                Ok(other) if !other.data_type().equals_datatype(field.data_type()) => {
                    return Err(fail(format!(
                        "file {} has column {} as {} but file {} has it as {}",
                        show(first),
                        field.name(),
                        field.data_type(),
                        show(file),
                        other.data_type()
                    )));
                }
                Ok(_) => {}
            }
        }
        if let Some(extra) = footer
            .schema
            .fields()
            .iter()
            .find(|f| reference.field_with_name(f.name()).is_err())
        {
            return Err(fail(format!(
                "file {} lacks column {} present in file {}",
                show(first),
                extra.name(),
                show(file)
            )));
        }
    }
    if let Some(clash) = reference
        .fields()
        .iter()
        .find(|f| partition_keys.contains(&f.name()))
    {
        return Err(fail(format!(
            "partition column {} (from the folder names) is also a column inside file {}",
            clash.name(),
            show(first)
        )));
    }

    // A column is nullable if any file allows nulls; metadata is dropped as
    // DataFusion's own schema inference does by default.
    let fields: Vec<Field> = reference
        .fields()
        .iter()
        .map(|field| {
            let nullable = footers.iter().any(|f| {
                f.schema
                    .field_with_name(field.name())
                    .is_ok_and(|g| g.is_nullable())
            });
            Field::new(field.name(), field.data_type().clone(), nullable)
        })
        .collect();

    Ok(TableSpec {
        url: location.url_of(folder),
        name: candidate.name,
        folder: candidate.folder.clone(),
        schema: Arc::new(Schema::new(fields)),
        partition_cols: candidate.partition_cols,
        files: candidate.files.len(),
        rows: footers.iter().map(|f| f.rows).sum(),
        bytes: candidate.files.iter().map(|f| f.meta.size).sum(),
        file_extension: candidate.file_extension,
    })
}

/// `%XX` decoding of a hive path value; invalid escapes stay as they are.
fn percent_decode(value: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}
