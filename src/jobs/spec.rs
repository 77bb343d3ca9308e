//! Job files: `sql/jobs/*.toml`.
//!
//! ```toml
//! name = "daily_segments"                      # defaults to the file name
//! description = "…"
//! purpose = "email_marketing"                  # optional: only customers whose latest consent
//!                                              # for it is granted ([privacy] consent_table)
//! setup = ["../segments/lifecycle.sql"]        # SQL run first (paths relative to this file)
//!
//! [[targets]]
//! table = "segments.customer_segments"         # folder segments/customer_segments/ of the lake
//! sql_file = "daily_segments.sql"              # or: sql = "SELECT …"
//! key = "customer_id"                          # unique, non-NULL
//! segments = ["rfm_segment", "lifecycle"]      # what segment_changes/segment_flows follow
//! mode = "snapshot"                            # snapshot | replace | append
//! partition_by = []                            # extra partition columns (snapshot adds as_of)
//! compression = "zstd"                         # zstd | snappy | gzip | lz4 | none
//! ```
//!
//! Parameters reach the SQL as placeholders (`$as_of`), bound to typed
//! values in the parsed statement, never pasted into its text.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, JobFailure, Result};

/// How a run's rows replace what the target held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One partition per `as_of` date; a run replaces only its own.
    Snapshot,
    /// The whole table is replaced by each run.
    Replace,
    /// Each run's rows are added.
    Append,
}

impl Mode {
    /// The name used in job files and logs.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Snapshot => "snapshot",
            Mode::Replace => "replace",
            Mode::Append => "append",
        }
    }
}

/// Parquet compression of the written files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd level 3: small files, fast to read.
    #[default]
    Zstd,
    /// Snappy: what Spark writes by default.
    Snappy,
    /// gzip level 6.
    Gzip,
    /// LZ4 (raw).
    Lz4,
    /// No compression.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    name: Option<String>,
    description: Option<String>,
    purpose: Option<String>,
    #[serde(default)]
    setup: Vec<PathBuf>,
    #[serde(default)]
    targets: Vec<TargetFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    table: String,
    sql: Option<String>,
    sql_file: Option<PathBuf>,
    key: String,
    #[serde(default)]
    segments: Vec<String>,
    mode: Mode,
    #[serde(default)]
    partition_by: Vec<String>,
    #[serde(default)]
    compression: Compression,
}

/// A parsed, checked job.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's name, for logs and locks.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// What it is for.
    pub description: Option<String>,
    /// The consent purpose it acts for: its queries see only the customers
    /// whose latest consent for it is granted.
    pub purpose: Option<String>,
    /// SQL files run before the targets, with their text.
    pub setup: Vec<(PathBuf, String)>,
    /// What it writes, in order.
    pub targets: Vec<Target>,
}

/// One table a job writes.
#[derive(Debug, Clone)]
pub struct Target {
    /// SQL name: `schema.table` or `table`.
    pub table: String,
    /// The folder under the lake root.
    pub folder: String,
    /// The query producing the rows.
    pub sql: String,
    /// Where the query came from, for messages.
    pub sql_source: String,
    /// The key column.
    pub key: String,
    /// Segment columns followed by `segment_changes`.
    pub segments: Vec<String>,
    /// How rows replace the previous ones.
    pub mode: Mode,
    /// Partition columns besides `as_of`.
    pub partition_by: Vec<String>,
    /// Parquet compression.
    pub compression: Compression,
}

fn definition(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::job(
        JobFailure::Definition,
        format!("job {}: {message}", path.display()),
    )
}

/// A name part of a target table: a plain lower-case SQL identifier, so
/// the folder and the SQL name are the same word.
fn check_part(part: &str) -> bool {
    let mut chars = part.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !part.starts_with('_')
}

impl Job {
    /// Reads and checks a job file; SQL files are read now, so a missing
    /// one fails before anything runs.
    pub fn load(path: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| definition(path, format!("cannot read: {e}")))?;
        Job::parse(&text, path)
    }

    /// Parses job text; relative paths are relative to `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Job> {
        Job::parse_with(text, path, &|full| std::fs::read_to_string(full))
    }

    /// [`Job::parse`] reading the SQL files through `read_file` (the demo
    /// runs the compiled-in job from any directory).
    pub fn parse_with(
        text: &str,
        path: &Path,
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Job> {
        let file: JobFile = toml::from_str(text).map_err(|e| definition(path, e.message()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let read = |relative: &Path, what: &str| -> Result<(PathBuf, String)> {
            let full = dir.join(relative);
            read_file(&full)
                .map(|t| (full.clone(), t))
                .map_err(|e| definition(path, format!("{what} {}: {e}", full.display())))
        };
        let name = match file.name {
            Some(n) => n,
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "job".into()),
        };
        let setup = file
            .setup
            .iter()
            .map(|p| read(p, "setup file"))
            .collect::<Result<Vec<_>>>()?;
        if let Some(p) = &file.purpose
            && (p.trim().is_empty() || p.trim() != p)
        {
            return Err(definition(
                path,
                format!("purpose {p:?} is empty or has surrounding spaces"),
            ));
        }
        if file.targets.is_empty() {
            return Err(definition(path, "has no [[targets]]"));
        }
        let mut targets = Vec::new();
        for t in file.targets {
            let parts: Vec<&str> = t.table.split('.').collect();
            if parts.len() > 2 || !parts.iter().all(|p| check_part(p)) {
                return Err(definition(
                    path,
                    format!(
                        "target table {:?}: use `table` or `schema.table` with lower-case letters, digits and _ (not starting with _)",
                        t.table
                    ),
                ));
            }
            let (sql, sql_source) = match (t.sql, t.sql_file) {
                (Some(sql), None) => (sql, format!("{} [{}]", path.display(), t.table)),
                (None, Some(file)) => {
                    let (full, sql) = read(&file, "sql_file")?;
                    (sql, full.display().to_string())
                }
                _ => {
                    return Err(definition(
                        path,
                        format!("target {}: give exactly one of sql or sql_file", t.table),
                    ));
                }
            };
            if t.key.trim().is_empty() {
                return Err(definition(
                    path,
                    format!("target {}: key is empty", t.table),
                ));
            }
            if t.mode == Mode::Snapshot && t.partition_by.iter().any(|c| c == "as_of") {
                return Err(definition(
                    path,
                    format!(
                        "target {}: as_of is always the first partition column of a snapshot; leave it out of partition_by",
                        t.table
                    ),
                ));
            }
            if targets.iter().any(|o: &Target| o.table == t.table) {
                return Err(definition(
                    path,
                    format!("target {} is listed twice", t.table),
                ));
            }
            targets.push(Target {
                folder: parts.join("/"),
                table: t.table,
                sql,
                sql_source,
                key: t.key,
                segments: t.segments,
                mode: t.mode,
                partition_by: t.partition_by,
                compression: t.compression,
            });
        }
        Ok(Job {
            name,
            path: path.to_path_buf(),
            description: file.description,
            purpose: file.purpose,
            setup,
            targets,
        })
    }
}
