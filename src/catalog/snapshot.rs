//! The catalog as of its last refresh, readable without I/O.
//!
//! DataFusion's analyzer rules are synchronous, and planning must not wait
//! on the store; so the engine refreshes this snapshot (one listing of the
//! segment sets and one of the models, re-reading only objects whose size,
//! time or e-tag changed) before it plans or runs a statement that uses the
//! catalog, and the analyzer reads it. Model versions are immutable once
//! committed, so a version is read once and kept until its `model.json`
//! changes (a DROP and a new CREATE).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use microseg_udfs::model::Bound;
use object_store::ObjectMeta;

use super::{Catalog, SegmentSet, StoredModel, Suppressed};
use crate::error::Result;

/// What identifies one stored object's content without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: chrono::DateTime<chrono::Utc>,
    e_tag: Option<String>,
}

impl From<&ObjectMeta> for Stamp {
    fn from(meta: &ObjectMeta) -> Self {
        Stamp {
            size: meta.size,
            modified: meta.last_modified,
            e_tag: meta.e_tag.clone(),
        }
    }
}

/// One object read into the snapshot, or why it could not be: a broken
/// definition fails the statements that use it, not every statement.
#[derive(Debug, Clone)]
struct Entry<T> {
    stamp: Stamp,
    value: std::result::Result<T, String>,
}

/// A model version as the analyzer binds it.
#[derive(Debug)]
pub struct ModelEntry {
    /// As stored.
    pub stored: StoredModel,
    /// What the applying functions hold, shared by every plan bound to it.
    pub bound: Bound,
}

/// The segment sets and models of a lake at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    sets: BTreeMap<String, Entry<Arc<SegmentSet>>>,
    models: BTreeMap<String, BTreeMap<u32, Entry<Arc<ModelEntry>>>>,
    suppressed: Arc<Suppressed>,
}

impl Snapshot {
    /// The set `name`: `Ok(None)` if there is none, `Err` if it is unreadable.
    pub fn segment_set(&self, name: &str) -> std::result::Result<Option<Arc<SegmentSet>>, String> {
        self.sets.get(name).map(|e| e.value.clone()).transpose()
    }

    /// Every set's name, sorted.
    pub fn segment_set_names(&self) -> Vec<String> {
        self.sets.keys().cloned().collect()
    }

    /// Model `name` at `version` (the latest when `None`).
    pub fn model(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> std::result::Result<Option<Arc<ModelEntry>>, String> {
        let Some(versions) = self.models.get(name) else {
            return Ok(None);
        };
        let entry = match version {
            Some(v) => versions.get(&v),
            None => versions.values().next_back(),
        };
        entry.map(|e| e.value.clone()).transpose()
    }

    /// Every model's name, sorted.
    pub fn model_names(&self) -> Vec<String> {
        self.models.keys().cloned().collect()
    }

    /// Who has been forgotten, as the query-time filter holds it.
    pub fn suppressed(&self) -> &Arc<Suppressed> {
        &self.suppressed
    }
}

/// The engine's copy of the catalog, shared by all its sessions.
#[derive(Debug, Default)]
pub struct CatalogCache {
    current: RwLock<Arc<Snapshot>>,
}

impl CatalogCache {
    /// The snapshot as of the last refresh.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Brings the snapshot up to date with `catalog`. Concurrent refreshes
    /// each install a complete snapshot; readers never see half of one.
    pub async fn refresh(&self, catalog: &Catalog) -> Result<()> {
        let old = self.snapshot();
        let mut sets = BTreeMap::new();
        for (file, meta) in catalog.list_objects(super::segment_sets::DIR).await? {
            let Some(name) = file.strip_suffix(".json").filter(|n| !n.contains('/')) else {
                continue;
            };
            let stamp = Stamp::from(&meta);
            let entry = match old.sets.get(name) {
                Some(e) if e.stamp == stamp => e.clone(),
                _ => Entry {
                    stamp,
                    value: match catalog.segment_set(name).await {
                        Ok(Some(set)) => Ok(Arc::new(set)),
                        // Deleted between the listing and the read.
                        Ok(None) => continue,
                        Err(e) => Err(e.to_string()),
                    },
                },
            };
            sets.insert(name.to_string(), entry);
        }
        let mut models: BTreeMap<String, BTreeMap<u32, Entry<Arc<ModelEntry>>>> = BTreeMap::new();
        for (file, meta) in catalog.list_objects(super::models::DIR).await? {
            let mut parts = file.split('/');
            let (Some(name), Some(dir), Some("model.json"), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(version) = dir.strip_prefix('v').and_then(|v| v.parse::<u32>().ok()) else {
                continue;
            };
            let stamp = Stamp::from(&meta);
            let entry = match old.models.get(name).and_then(|v| v.get(&version)) {
                Some(e) if e.stamp == stamp => e.clone(),
                _ => Entry {
                    stamp,
                    value: match catalog.model(name, Some(version)).await {
                        Ok(Some(stored)) => Ok(Arc::new(ModelEntry {
                            bound: Bound(Arc::new(stored.fitted())),
                            stored,
                        })),
                        Ok(None) => continue,
                        Err(e) => Err(e.to_string()),
                    },
                },
            };
            models
                .entry(name.to_string())
                .or_default()
                .insert(version, entry);
        }
        // One listing; the salt never changes once made, so it is read once.
        let hashes = catalog.suppressed_hashes().await?;
        let listed = if hashes.is_empty() {
            Suppressed::default()
        } else if !old.suppressed.is_empty() {
            Suppressed::new(old.suppressed.parts().0.to_vec(), hashes)
        } else {
            catalog.suppressed().await?
        };
        let suppressed = if *old.suppressed == listed {
            Arc::clone(&old.suppressed)
        } else {
            Arc::new(listed)
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot {
            sets,
            models,
            suppressed,
        });
        Ok(())
    }
}
