//! Identity graphs: `_microseg/identity_graphs/<name>/v<N>/` holds
//! `components.parquet` (one row per source record: its profile) and
//! `graph.json` (the definition and what the build saw). `graph.json` is
//! written last, so a version exists exactly when its JSON does.

use std::collections::BTreeMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use super::Catalog;
use crate::error::{Error, Result};

pub(super) const DIR: &str = "identity_graphs";
const COMPONENTS: &str = "components.parquet";
const META: &str = "graph.json";

/// One source: a table (or view) and its record key column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSource {
    /// The table or view, as written.
    pub table: String,
    /// The column that identifies a record within it.
    pub key: String,
}

/// `MATCH ON expr [LIMIT n] [PRIORITY p]`: records with equal, non-NULL,
/// non-blocked values are the same person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchKey {
    /// The expression, or the parts of a composite `(a, b, c)` key (all
    /// must be non-NULL), as SQL text.
    pub parts: Vec<String>,
    /// At most this many distinct values of this key in one profile.
    pub limit: Option<u64>,
    /// Lower numbers are applied first; keys without one come last, in
    /// the order written.
    pub priority: Option<u32>,
}

impl MatchKey {
    /// How the key is named in results (`matched_by`, DESCRIBE).
    pub fn label(&self) -> String {
        if self.parts.len() == 1 {
            self.parts[0].clone()
        } else {
            format!("({})", self.parts.join(", "))
        }
    }
}

/// A `CREATE IDENTITY GRAPH` definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSpec {
    /// The graph's name.
    pub name: String,
    /// The sources, in the order written.
    pub sources: Vec<GraphSource>,
    /// The match keys, in the order written.
    pub keys: Vec<MatchKey>,
    /// Key values that never link (compared with the key's value).
    pub block_values: Vec<String>,
    /// Components that would grow past this are flagged, not merged.
    pub max_component_size: Option<u64>,
}

/// What a build saw, for `DESCRIBE IDENTITY GRAPH`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphMeta {
    /// The definition.
    pub spec: GraphSpec,
    /// 1, 2, …: each `CREATE OR REPLACE` adds one.
    pub version: u32,
    /// Records read per source table.
    pub records: BTreeMap<String, u64>,
    /// Profiles (components).
    pub profiles: u64,
    /// Component sizes: "1", "2", "3-5", "6-10", "11-50", "51+" → profiles.
    pub size_histogram: BTreeMap<String, u64>,
    /// Per key label: merges made, merges dropped by a LIMIT, by the size guard.
    pub merges: BTreeMap<String, [u64; 3]>,
    /// Profiles whose id the previous version already had.
    pub kept_profiles: u64,
    /// The next new profile id: ids are never given twice.
    pub next_profile_id: i64,
    /// When it was built (RFC 3339, UTC), and how long it took.
    pub created_at: String,
    /// Seconds.
    pub build_seconds: f64,
}

/// The columns of `components.parquet` and of `identity_components(name)`.
pub fn components_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("record_key", DataType::Utf8, false),
        Field::new("profile_id", DataType::Int64, false),
        Field::new("component_size", DataType::Int64, false),
        Field::new("matched_by", DataType::Utf8, true),
        Field::new("flagged", DataType::Boolean, false),
    ]))
}

fn version_dir(name: &str, version: u32) -> String {
    format!("{DIR}/{name}/v{version}")
}

impl Catalog {
    /// The committed versions of a graph, ascending.
    pub async fn graph_versions(&self, name: &str) -> Result<Vec<u32>> {
        let mut versions: Vec<u32> = self
            .list_all(&format!("{DIR}/{name}"))
            .await?
            .iter()
            .filter_map(|p| {
                let (dir, file) = p.split_once('/')?;
                (file == META).then_some(())?;
                dir.strip_prefix('v')?.parse().ok()
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Every graph's latest version.
    pub async fn graphs(&self) -> Result<Vec<GraphMeta>> {
        let mut names: Vec<String> = self
            .list_all(DIR)
            .await?
            .iter()
            .filter_map(|p| p.split('/').next().map(str::to_string))
            .collect();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            if let Some(meta) = self.graph(&name).await? {
                out.push(meta);
            }
        }
        Ok(out)
    }

    /// The latest version's metadata, `None` if there is no such graph.
    pub async fn graph(&self, name: &str) -> Result<Option<GraphMeta>> {
        let Some(&version) = self.graph_versions(name).await?.last() else {
            return Ok(None);
        };
        let path = format!("{}/{META}", version_dir(name, version));
        let Some(bytes) = self.get(&path).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.error(&path, format!("is not a valid identity graph: {e}")))
    }

    /// The components of a version, read whole (for the next build's
    /// stable ids).
    pub async fn graph_components(&self, name: &str, version: u32) -> Result<Vec<RecordBatch>> {
        let path = format!("{}/{COMPONENTS}", version_dir(name, version));
        let Some(bytes) = self.get(&path).await? else {
            return Err(self.error(&path, "is missing"));
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .and_then(|b| b.build())
            .map_err(|e| self.error(&path, e))?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.error(&path, e))
    }

    /// Stores a version: components first, the JSON last.
    pub async fn put_graph(&self, meta: &GraphMeta, components: &[RecordBatch]) -> Result<()> {
        let dir = version_dir(&meta.spec.name, meta.version);
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, components_schema(), None)
            .map_err(|e| self.error(&dir, e))?;
        for b in components {
            w.write(b).map_err(|e| self.error(&dir, e))?;
        }
        w.close().map_err(|e| self.error(&dir, e))?;
        self.put(&format!("{dir}/{COMPONENTS}"), buf).await?;
        let json = serde_json::to_vec_pretty(meta)
            .map_err(|e| Error::Usage(format!("identity graph {}: {e}", meta.spec.name)))?;
        self.put(&format!("{dir}/{META}"), json).await
    }

    /// Deletes every version; `false` if there was none.
    pub async fn drop_graph(&self, name: &str) -> Result<bool> {
        let folder = format!("{DIR}/{name}");
        let objects = self.list_all(&folder).await?;
        // The JSONs first: a half-deleted graph has no committed version.
        let (meta, rest): (Vec<_>, Vec<_>) = objects.iter().partition(|p| p.ends_with(META));
        for p in meta.iter().chain(rest.iter()) {
            self.delete(&format!("{folder}/{p}")).await?;
        }
        Ok(!objects.is_empty())
    }
}
