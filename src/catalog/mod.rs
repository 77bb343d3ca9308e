//! What microseg keeps in the lake itself, under `_microseg/`: segment sets,
//! models and identity graphs. Everything is read from the store when a statement
//! needs it, so every process that opens the lake (CLI, server, jobs) sees
//! the same definitions without restarting.

pub mod audit;
pub mod identity_graphs;
pub mod models;
mod recommenders;
pub mod segment_sets;
mod snapshot;
pub mod suppressed;
mod trees;
pub mod uplifts;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt, PutPayload};

use crate::error::{Error, Result};
use crate::lake::LakeLocation;

pub use identity_graphs::{GraphMeta, GraphSource, GraphSpec, MatchKey};
pub use models::{LabelMeta, ModelMeta, StoredModel};
pub use segment_sets::{SegmentRule, SegmentSet};
pub use snapshot::{CatalogCache, ModelEntry, Snapshot};
pub use suppressed::Suppressed;

/// The root of microseg's own metadata inside a lake.
pub const CATALOG_DIR: &str = "_microseg";

/// The `_microseg/` folder of one lake.
#[derive(Debug, Clone)]
pub struct Catalog {
    location: LakeLocation,
}

impl Catalog {
    /// The catalog of the lake at `location`.
    pub fn new(location: LakeLocation) -> Self {
        Self { location }
    }

    fn path(&self, relative: &str) -> Path {
        self.location.path_of(&format!("{CATALOG_DIR}/{relative}"))
    }

    /// Reads one object, `None` if it does not exist.
    async fn get(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(relative);
        match self.location.store.get(&path).await {
            Ok(result) => Ok(Some(result.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes one object whole: the store's put replaces it atomically, so a
    /// reader sees the old or the new definition, never half of one.
    async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(relative);
        self.location
            .store
            .put(&path, PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// Deletes one object; `false` if it was not there.
    async fn delete(&self, relative: &str) -> Result<bool> {
        let path = self.path(relative);
        match self.location.store.head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.location.store.delete(&path).await?;
        Ok(true)
    }

    /// The names of the objects directly in folder `relative`.
    async fn list(&self, relative: &str) -> Result<Vec<String>> {
        let mut all = self.list_all(relative).await?;
        all.retain(|name| !name.contains('/'));
        Ok(all)
    }

    /// Every object under folder `relative`, as paths relative to it.
    async fn list_all(&self, relative: &str) -> Result<Vec<String>> {
        Ok(self
            .list_objects(relative)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Every object under folder `relative` with what the store says of it
    /// (size, time, e-tag), as paths relative to it, sorted.
    async fn list_objects(&self, relative: &str) -> Result<Vec<(String, ObjectMeta)>> {
        let prefix = self.path(relative);
        let objects: Vec<ObjectMeta> = self
            .location
            .store
            .list(Some(&prefix))
            .try_collect()
            .await?;
        let mut listed: Vec<(String, ObjectMeta)> = objects
            .into_iter()
            .filter_map(|o| {
                let rest: Vec<String> = o
                    .location
                    .prefix_match(&prefix)?
                    .map(|p| p.as_ref().to_string())
                    .collect();
                (!rest.is_empty()).then(|| (rest.join("/"), o))
            })
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(listed)
    }

    /// Checks a name that becomes a file or folder name in the lake.
    pub fn check_name(kind: &str, name: &str) -> Result<()> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if ok {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "invalid {kind} name {name:?}: use lower-case letters, digits and _ (not starting with a digit)"
            )))
        }
    }

    /// A catalog error naming the object it is about.
    fn error(&self, relative: &str, message: impl std::fmt::Display) -> Error {
        Error::lake(
            self.location.display_path(&self.path(relative)),
            message.to_string(),
        )
    }
}
