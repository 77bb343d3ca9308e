//! Runs every `tests/slt/*.slt` file against our own Engine on the shared
//! small lake, so our statements and functions are testable in sqllogictest.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;
use microseg::{Engine, EngineOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::fixtures::small_lake_copy;

struct MicrosegDb {
    engine: Arc<Engine>,
    /// `microseg`, or `microseg-cluster` in cluster mode, so a file can
    /// say `skipif microseg-cluster` for what a cluster cannot run yet.
    name: &'static str,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for MicrosegDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let df = self
            .engine
            .sql(sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let fields = df.schema().fields().clone();
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let mut rows = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| SltError(e.to_string()))?;
            rows.extend(format_rows(&batch)?);
        }
        if fields.is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = fields.iter().map(|f| column_type(f.data_type())).collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        self.name
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            DefaultColumnType::Integer
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            DefaultColumnType::Integer
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            DefaultColumnType::FloatingPoint
        }
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => DefaultColumnType::FloatingPoint,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

/// NULL as `NULL`, empty strings as `(empty)`, as DataFusion's own slt files do.
fn format_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SltError(e.to_string()))?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, col)| {
                    let s = f.value(row).to_string();
                    if s.is_empty() && !col.is_null(row) {
                        "(empty)".to_string()
                    } else {
                        s
                    }
                })
                .collect()
        })
        .collect())
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// Whether `file` asks any query (statement-only files check nothing a
/// cluster could answer differently).
fn has_queries(file: &std::path::Path) -> bool {
    std::fs::read_to_string(file)
        .expect("read slt file")
        .lines()
        .any(|l| l.starts_with("query"))
}

/// Runs the files, each on a fresh engine over its own copy of the lake
/// (views, settings, segment sets and models don't leak between files,
/// and the shared lake stays read-only); with `cluster`, the engine
/// executes on that scheduler, reading shuffles remotely.
async fn run_files(files: &[PathBuf], cluster: Option<&str>) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let copy = small_lake_copy();
        let options = EngineOptions {
            target_partitions: cluster.map(|_| 4),
            ..EngineOptions::default()
        };
        let engine = Engine::open(&copy.path().to_string_lossy(), options)
            .await
            .expect("open lake");
        let engine = match cluster {
            None => engine,
            Some(address) => {
                let engine = microseg::cluster::connect(engine, address)
                    .await
                    .expect("connect to the cluster");
                engine
                    .sql("SET ballista.shuffle.force_remote_read = true")
                    .await
                    .expect("force remote shuffle reads");
                engine
            }
        };
        let engine = Arc::new(engine);
        let name = if cluster.is_some() {
            "microseg-cluster"
        } else {
            "microseg"
        };
        let mut runner = sqllogictest::Runner::new(move || {
            let engine = engine.clone();
            async move { Ok(MicrosegDb { engine, name }) }
        });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}:\n{e}", file.display()));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    let failures = run_files(&files, None).await;
    assert!(
        failures.is_empty(),
        "{} slt file(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The same files on one scheduler and two executors on loopback: the
/// answers the files expect are the single-process answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqllogictests_on_a_cluster() {
    let files: Vec<PathBuf> = slt_files().into_iter().filter(|f| has_queries(f)).collect();
    assert!(!files.is_empty(), "no .slt files with queries found");
    let (scheduler, _executors) = crate::cluster::start_cluster().await;
    let address = format!("df://{}", scheduler.addr());
    let failures = run_files(&files, Some(&address)).await;
    assert!(
        failures.is_empty(),
        "{} slt file(s) failed on the cluster:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
