//! Erasing one person from a Delta table of the lake (`microseg forget`):
//! a delete commit rewrites the files holding their rows, then a vacuum
//! with zero retention deletes every file the current version no longer
//! uses, so no earlier version can be read back (`table_at` included).

use std::collections::{HashMap, HashSet};

use datafusion::common::ScalarValue;
use datafusion::prelude::{col, lit};
use object_store::{ObjectMeta, ObjectStoreExt};

use super::At;
use crate::error::{Error, Result};
use crate::lake::LakeLocation;

/// What erasing did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// Rows deleted from the current version.
    pub rows_removed: u64,
    /// The table's version after the delete commit (unchanged when no row matched).
    pub version: u64,
    /// Data files deleted by the vacuum.
    pub files_vacuumed: u64,
    /// Versions before `version` that can no longer be read.
    pub versions_unreadable: u64,
}

/// Deletes the rows whose `key` equals `value` from the Delta table in
/// `folder`, then vacuums it with zero retention. `None` when the table
/// has no column `key`.
pub async fn erase(
    location: &LakeLocation,
    folder: &str,
    key: &str,
    value: &ScalarValue,
) -> Result<Option<Erased>> {
    let fail = |what: &str, e: deltalake_core::DeltaTableError| {
        Error::lake(
            &location.original,
            format!("forget: {what} of Delta table {folder}: {e}"),
        )
    };
    let table = super::open(location, folder, &At::Latest).await?;
    let schema = table
        .snapshot()
        .map_err(|e| fail("reading the schema", e))?
        .snapshot()
        .arrow_schema();
    let Ok(field) = schema.field_with_name(key) else {
        return Ok(None);
    };
    let value = value.cast_to(field.data_type()).map_err(|e| {
        Error::Usage(format!(
            "forget: the customer id cannot be compared with column {key} ({}) of Delta table {folder}: {e}",
            field.data_type()
        ))
    })?;
    let (table, metrics) = table
        .delete()
        .with_predicate(col(key).eq(lit(value)))
        .await
        .map_err(|e| fail("the delete commit", e))?;
    let version = table.version().unwrap_or_default();
    let (_, vacuumed) = table
        .vacuum()
        .with_retention_period(chrono::Duration::zero())
        .with_enforce_retention_duration(false)
        .await
        .map_err(|e| fail("the vacuum", e))?;
    Ok(Some(Erased {
        rows_removed: metrics.num_deleted_rows.unwrap_or_default() as u64,
        version,
        files_vacuumed: vacuumed.files_deleted.len() as u64,
        versions_unreadable: unreadable_versions(location, folder).await?,
    }))
}

/// How many versions in the log name a data file that no longer exists:
/// one pass over the commits, replaying their adds and removes.
pub async fn unreadable_versions(location: &LakeLocation, folder: &str) -> Result<u64> {
    let root = location.path_of(folder);
    let fail = |e: object_store::Error| {
        Error::lake(
            &location.original,
            format!("listing {}: {e}", location.display_path(&root)),
        )
    };
    let objects = super::list_folder(location, folder, "listing").await?;
    let mut present = HashSet::new();
    let mut commits: Vec<(u64, ObjectMeta)> = Vec::new();
    for meta in objects {
        let Some(parts) = meta.location.prefix_match(&root) else {
            continue;
        };
        let parts: Vec<String> = parts.map(|p| decode_log_path(p.as_ref())).collect();
        match parts.as_slice() {
            [log, name] if log == "_delta_log" => {
                if let Some(v) = name
                    .strip_suffix(".json")
                    .filter(|n| n.len() == 20)
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    commits.push((v, meta));
                }
            }
            _ => {
                present.insert(parts.join("/"));
            }
        }
    }
    commits.sort_by_key(|(v, _)| *v);
    let mut active: HashMap<String, ()> = HashMap::new();
    let mut unreadable = 0;
    for (_, meta) in commits {
        let bytes = location
            .store
            .get(&meta.location)
            .await
            .map_err(fail)?
            .bytes()
            .await
            .map_err(fail)?;
        for line in String::from_utf8_lossy(&bytes).lines() {
            let Ok(action) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if let Some(path) = action["add"]["path"].as_str() {
                active.insert(decode_log_path(path), ());
            }
            if let Some(path) = action["remove"]["path"].as_str() {
                active.remove(&decode_log_path(path));
            }
        }
        if active.keys().any(|p| !present.contains(p)) {
            unreadable += 1;
        }
    }
    Ok(unreadable)
}

/// `%XX` decoding: Delta logs store paths URI-encoded, object stores list
/// them in their own encoding; both decode to the same text.
pub fn decode_log_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
