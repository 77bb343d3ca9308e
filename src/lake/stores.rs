//! Object stores for processes that receive plans rather than open a lake:
//! cluster schedulers and executors. A plan names its files by URL
//! (`s3://bucket/…`); the store for that URL is built on first use from
//! this process's own environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), the
//! way `--lake` builds the client's, and kept for the process's lifetime.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use url::Url;

use super::LakeLocation;

/// Stores keyed by `scheme://authority`, built from the environment when a
/// plan first names them.
#[derive(Debug, Default)]
pub struct EnvStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// The process's one [`EnvStores`], so every session of a scheduler or
/// executor shares connections and credentials.
pub fn env_stores() -> Arc<EnvStores> {
    static STORES: OnceLock<Arc<EnvStores>> = OnceLock::new();
    Arc::clone(STORES.get_or_init(Default::default))
}

fn key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl EnvStores {
    fn build(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "file" => Ok(Arc::new(LocalFileSystem::new())),
            "memory" => Err(DataFusionError::Configuration(format!(
                "{}: a memory:// store lives in the process that made it; cluster processes cannot read it",
                key(url)
            ))),
            _ => {
                let root = format!("{}/", key(url));
                LakeLocation::parse(&root)
                    .map(|location| location.store)
                    .map_err(|e| {
                        DataFusionError::Configuration(format!(
                            "{root}: no object store from this process's environment: {e}"
                        ))
                    })
            }
        }
    }
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.insert(key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.remove(&key(url)).ok_or_else(|| {
            DataFusionError::Configuration(format!("no object store for {}", key(url)))
        })
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let key = key(url);
        if let Some(store) = self
            .stores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(store));
        }
        let built = Self::build(url)?;
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        // Another task may have built it meanwhile: keep the first.
        Ok(Arc::clone(stores.entry(key).or_insert(built)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_come_from_the_url_and_are_kept() {
        let stores = EnvStores::default();
        let file = Url::parse("file:///tmp/x").unwrap();
        let a = stores.get_store(&file).unwrap();
        let b = stores
            .get_store(&Url::parse("file:///other").unwrap())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let err = stores
            .get_store(&Url::parse("memory://lake/x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory://lake"), "{err}");
        let err = stores
            .get_store(&Url::parse("ftp://host/x").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ftp://host/") && err.contains("unsupported scheme"),
            "{err}"
        );
    }
}
