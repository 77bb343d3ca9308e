//! Where a lake lives: a local directory or a prefix on an object store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use url::Url;

use crate::error::{Error, Result};

/// The schemes [`LakeLocation::parse`] understands, for error messages.
const SUPPORTED: &str =
    "a local directory, file://, s3://, gs://, az://, abfs://, abfss:// or memory://";

/// A parsed lake location: which object store, and the prefix of the lake in it.
#[derive(Debug, Clone)]
pub struct LakeLocation {
    /// The location exactly as the user gave it, for messages.
    pub original: String,
    /// `scheme://authority/`: the key the store is registered under in DataFusion.
    pub store_url: Url,
    /// The lake root inside the store.
    pub prefix: Path,
    /// The store holding the lake.
    pub store: Arc<dyn ObjectStore>,
}

/// Returns the process-wide in-memory store for `memory://NAME` lakes,
/// creating it empty on first use.
///
/// Tests (and embedders) put Parquet files into it, then open `memory://NAME`.
pub fn memory_store(name: &str) -> Arc<InMemory> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked mid-insert; the map
    // itself is still consistent.
    let mut stores = stores.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(
        stores
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(InMemory::new())),
    )
}

impl LakeLocation {
    /// Whether the files at `url` lie inside the lake: the same store,
    /// under the lake's prefix.
    pub fn contains(&self, url: &datafusion::datasource::listing::ListingTableUrl) -> bool {
        url.object_store().as_str() == self.store_url.as_str()
            && url.prefix().prefix_match(&self.prefix).is_some()
    }

    /// Parses `location` with store credentials and settings from the
    /// environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    ///
    /// Accepts a local directory (relative or absolute, which must exist),
    /// `file:///abs/dir`, `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`, `abfs[s]://container@account.dfs.core.windows.net/prefix`
    /// and `memory://name/prefix`.
    pub fn parse(location: &str) -> Result<LakeLocation> {
        Self::parse_with_options(location, std::iter::empty::<(&str, &str)>())
    }

    /// Like [`LakeLocation::parse`], with store options applied on top of the
    /// environment, as object_store config keys (e.g. `aws_endpoint`,
    /// `aws_allow_http`, `google_service_account`, `azure_storage_account_name`).
    ///
    /// Explicit options let a caller (a CLI flag, a test against a local S3
    /// server) configure the store without mutating the process environment.
    pub fn parse_with_options<K, V>(
        location: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<LakeLocation>
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
            .collect();
        let url = match Url::parse(location) {
            // A one-letter "scheme" is a Windows drive letter, not a URL.
            Ok(url) if url.scheme().len() > 1 => url,
            _ => return Self::local(location, PathBuf::from(location), &options),
        };
        match url.scheme() {
            "file" => {
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(Error::lake(
                        location,
                        "file:// URLs must name a local absolute path (file:///dir), not a host",
                    ));
                }
                let path = url.to_file_path().map_err(|()| {
                    Error::lake(
                        location,
                        "is not a valid local path (expected file:///abs/dir)",
                    )
                })?;
                Self::local(location, path, &options)
            }
            "s3" | "s3a" => {
                let bucket = authority(location, &url, "bucket")?;
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (key, value) in &options {
                    let key: AmazonS3ConfigKey = key
                        .parse()
                        .map_err(|_| unknown_option(location, key, "aws_"))?;
                    builder = builder.with_config(key, value);
                }
                let store = builder.build().map_err(|e| store_error(location, e))?;
                Self::remote(location, &url, Arc::new(store))
            }
            "gs" => {
                let bucket = authority(location, &url, "bucket")?;
                let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                for (key, value) in &options {
                    let key: GoogleConfigKey = key
                        .parse()
                        .map_err(|_| unknown_option(location, key, "google_"))?;
                    builder = builder.with_config(key, value);
                }
                let store = builder.build().map_err(|e| store_error(location, e))?;
                Self::remote(location, &url, Arc::new(store))
            }
            "az" | "abfs" | "abfss" => {
                authority(location, &url, "container")?;
                // with_url understands both az://container/ and the Hadoop
                // container@account.dfs.core.windows.net form.
                let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
                for (key, value) in &options {
                    let key: AzureConfigKey = key
                        .parse()
                        .map_err(|_| unknown_option(location, key, "azure_"))?;
                    builder = builder.with_config(key, value);
                }
                let store = builder.build().map_err(|e| store_error(location, e))?;
                Self::remote(location, &url, Arc::new(store))
            }
            "memory" => {
                let name = authority(location, &url, "store name")?;
                no_options(location, "memory", &options)?;
                let store: Arc<dyn ObjectStore> = memory_store(&name);
                Self::remote(location, &url, store)
            }
            other => Err(Error::lake(
                location,
                format!("unsupported scheme {other}://: supported are {SUPPORTED}"),
            )),
        }
    }

    fn local(location: &str, path: PathBuf, options: &[(String, String)]) -> Result<LakeLocation> {
        no_options(location, "local", options)?;
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let meta = std::fs::metadata(&absolute).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "does not exist".to_string()
            } else {
                format!("cannot be read: {e}")
            };
            Error::lake(
                location,
                format!("{why} (looked for directory {})", absolute.display()),
            )
        })?;
        if !meta.is_dir() {
            return Err(Error::lake(location, "is not a directory"));
        }
        // Canonical so the prefix matches what LocalFileSystem lists back,
        // even through symlinks or `..`.
        let canonical = absolute.canonicalize()?;
        let prefix = Path::from_absolute_path(&canonical)
            .map_err(|e| Error::lake(location, format!("unusable path: {e}")))?;
        Ok(LakeLocation {
            original: location.to_string(),
            store_url: Url::parse("file:///").expect("static URL"),
            prefix,
            store: Arc::new(LocalFileSystem::new()),
        })
    }

    fn remote(location: &str, url: &Url, store: Arc<dyn ObjectStore>) -> Result<LakeLocation> {
        let prefix = Path::from_url_path(url.path())
            .map_err(|e| Error::lake(location, format!("invalid path in URL: {e}")))?;
        let mut store_url = url.clone();
        store_url.set_path("/");
        store_url.set_query(None);
        store_url.set_fragment(None);
        Ok(LakeLocation {
            original: location.to_string(),
            store_url,
            prefix,
            store,
        })
    }

    /// Whether the lake is on the local file system (as opposed to an object store).
    pub fn is_local(&self) -> bool {
        self.store_url.scheme() == "file"
    }

    /// The full URL of a folder under the lake root (`relative` is
    /// `/`-separated, may be empty), ending in `/`.
    pub fn url_of(&self, relative: &str) -> String {
        let mut url = self.store_url.clone();
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments.clear();
                for part in self.prefix.parts() {
                    segments.push(part.as_ref());
                }
                for part in relative.split('/').filter(|p| !p.is_empty()) {
                    segments.push(part);
                }
                // The empty last segment gives the trailing '/' that tells
                // DataFusion this is a folder, not an object.
                segments.push("");
            }
            // Every scheme we accept has an authority, so this is unreachable;
            // fall back to plain concatenation rather than panic.
            Err(()) => {
                let mut s = self.store_url.to_string();
                for part in self.prefix.parts().map(|p| p.as_ref().to_string()) {
                    s.push_str(&part);
                    s.push('/');
                }
                for part in relative.split('/').filter(|p| !p.is_empty()) {
                    s.push_str(part);
                    s.push('/');
                }
                return s;
            }
        }
        url.to_string()
    }

    /// The lake root as a store path plus `relative` (`/`-separated).
    pub fn path_of(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// How to show an object of this store to a user: a file-system path for
    /// local lakes, the full URL (bucket and key) otherwise.
    pub fn display_path(&self, path: &Path) -> String {
        if self.is_local() {
            format!("/{path}")
        } else {
            format!("{}{path}", self.store_url)
        }
    }

    /// The lake root, shown as [`LakeLocation::display_path`] would.
    pub fn display_root(&self) -> String {
        self.display_path(&self.prefix)
    }
}

/// The bucket / container / name part of a URL, which must be present.
fn authority(location: &str, url: &Url, what: &str) -> Result<String> {
    // abfss://container@account... carries the container as the user name.
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        let scheme = url.scheme();
        return Err(Error::lake(
            location,
            format!(
                "{scheme}:// location has no {what}: expected {scheme}://{}/prefix",
                what.replace(' ', "_").to_uppercase()
            ),
        ));
    }
    Ok(host.to_string())
}

fn unknown_option(location: &str, key: &str, prefix: &str) -> Error {
    Error::Config {
        source_name: format!("store options for {location}"),
        message: format!("unknown option {key} (expected an object_store {prefix}* key)"),
    }
}

fn no_options(location: &str, kind: &str, options: &[(String, String)]) -> Result<()> {
    match options.first() {
        None => Ok(()),
        Some((key, _)) => Err(Error::Config {
            source_name: format!("store options for {location}"),
            message: format!("option {key} given, but {kind} lakes take no store options"),
        }),
    }
}

fn store_error(location: &str, e: object_store::Error) -> Error {
    Error::lake(location, format!("cannot configure the object store: {e}"))
}
