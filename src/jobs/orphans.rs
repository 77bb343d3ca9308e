//! Files a killed or failed run left behind, and `microseg vacuum`.
//!
//! A run writes its data files first and commits last; if it dies in
//! between, the files are in the table's folder but no commit names them,
//! so readers never see them. They only waste space: the next run of the
//! target (holding its lock, so no live writer can be mid-way) deletes
//! every file no commit in the log names, and so does `microseg vacuum`.

use std::collections::HashSet;

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use super::lock::Lock;
use crate::delta::{self, At};
use crate::error::{Error, Result};
use crate::lake::LakeLocation;

const LOG: &str = "_delta_log";

use crate::delta::decode_log_path as decode;

fn relative(meta: &ObjectMeta, folder: &Path) -> Option<Vec<String>> {
    meta.location
        .prefix_match(folder)
        .map(|parts| parts.map(|p| decode(p.as_ref())).collect())
}

fn is_commit_file(name: &str) -> bool {
    name.len() == 25 && name.ends_with(".json") && name[..20].bytes().all(|b| b.is_ascii_digit())
}

/// Deletes every file under the Delta table in `folder` that no commit
/// names, and unfinished commit files; returns how many. Call only while
/// holding the target's lock.
pub async fn clean_orphans(location: &LakeLocation, folder: &str) -> Result<usize> {
    let folder_path = location.path_of(folder);
    let fail = |e: object_store::Error| {
        Error::lake(
            &location.original,
            format!("cleaning {}: {e}", location.display_path(&folder_path)),
        )
    };
    let objects = crate::delta::list_folder(location, folder, "cleaning").await?;
    if objects.is_empty() {
        return Ok(0);
    }

    let mut referenced: HashSet<String> = HashSet::new();
    let mut doomed: Vec<Path> = Vec::new();
    let mut data: Vec<(Vec<String>, Path)> = Vec::new();
    let mut has_checkpoint = false;
    for meta in &objects {
        let Some(parts) = relative(meta, &folder_path) else {
            continue;
        };
        match parts.split_first() {
            Some((first, rest)) if first == LOG => {
                let name = rest.last().map(String::as_str).unwrap_or_default();
                if is_commit_file(name) && rest.len() == 1 {
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
                        for kind in ["add", "remove"] {
                            if let Some(path) = action[kind]["path"].as_str() {
                                referenced.insert(decode(path));
                            }
                        }
                    }
                } else if name.contains(".checkpoint") {
                    has_checkpoint = true;
                } else if name.starts_with("_commit_") || name.ends_with(".tmp") {
                    // A commit being written when its run died.
                    doomed.push(meta.location.clone());
                }
            }
            _ => data.push((parts, meta.location.clone())),
        }
    }
    if has_checkpoint {
        // Commits older than a checkpoint may have been cleaned up; the
        // current files are then known only through the snapshot.
        let table = delta::open(location, folder, &At::Latest).await?;
        let root = delta::table_url(location, folder)?.to_string();
        let uris = table
            .get_file_uris()
            .map_err(|e| Error::lake(&location.original, format!("Delta table {folder}: {e}")))?;
        for uri in uris {
            referenced.insert(decode(uri.strip_prefix(&root).unwrap_or(&uri)));
        }
    }
    for (parts, path) in data {
        // Hidden files (`_SUCCESS`, `.crc`) are not data.
        if parts
            .last()
            .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
        {
            continue;
        }
        if !referenced.contains(&parts.join("/")) {
            doomed.push(path);
        }
    }
    for path in &doomed {
        match location.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    Ok(doomed.len())
}

/// What `microseg vacuum` did to one table.
#[derive(Debug, Clone)]
pub struct VacuumReport {
    /// The table.
    pub table: String,
    /// Files of interrupted runs deleted.
    pub orphans: usize,
    /// Files of old versions deleted (older than the retention).
    pub expired: usize,
}

/// Cleans a Delta table of the lake under its lock: files of interrupted
/// runs, then files that only versions older than `retain` still use
/// (time travel to those versions stops working).
pub async fn vacuum(
    location: &LakeLocation,
    table: &str,
    folder: &str,
    retain: std::time::Duration,
    wait: std::time::Duration,
) -> Result<VacuumReport> {
    let lock = Lock::acquire(
        location,
        folder,
        table,
        "vacuum",
        std::time::Duration::from_secs(3600),
        wait,
    )
    .await?;
    let result: Result<VacuumReport> = async {
        let orphans = clean_orphans(location, folder).await?;
        let delta_table = delta::open(location, folder, &At::Latest).await?;
        let retention = chrono::Duration::from_std(retain)
            .map_err(|_| Error::Usage(format!("vacuum: retention {retain:?} is too long")))?;
        let (_, metrics) = delta_table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| Error::lake(&location.original, format!("vacuum {table}: {e}")))?;
        Ok(VacuumReport {
            table: table.to_string(),
            orphans,
            expired: metrics.files_deleted.len(),
        })
    }
    .await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_commit_names() {
        assert_eq!(
            decode("as_of=2026-10-31/a%20b.parquet"),
            "as_of=2026-10-31/a b.parquet"
        );
        assert_eq!(decode("100%"), "100%");
        assert!(is_commit_file("00000000000000000003.json"));
        assert!(!is_commit_file("00000000000000000003.checkpoint.parquet"));
        assert!(!is_commit_file("_commit_abc.json.tmp"));
    }
}
