//! Helpers shared by the integration tests: small Parquet files and a real
//! S3-API server (moto) on loopback.

#![allow(dead_code)] // each test module uses a different subset

pub mod moto;

use microseg::{Engine, EngineOptions};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;

/// A record batch from `(column, array)` pairs.
pub fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).expect("columns of equal length")
}

/// Shorthand for `Arc::new(array) as ArrayRef`.
pub fn col(array: impl datafusion::arrow::array::Array + 'static) -> ArrayRef {
    Arc::new(array)
}

/// `batch` encoded as a complete Parquet file.
pub fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).expect("writer");
    writer.write(batch).expect("write batch");
    writer.close().expect("close writer");
    out
}

/// Writes `batch` as a Parquet file at `path`, creating folders as needed.
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    write_bytes(path, &parquet_bytes(batch));
}

/// Writes raw bytes at `path`, creating folders as needed.
pub fn write_bytes(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("file has a parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write file");
}

/// Runs `query` and renders the result as an ASCII table, one line per entry.
pub async fn sql(ctx: &SessionContext, query: &str) -> Vec<String> {
    let batches = ctx
        .sql(query)
        .await
        .unwrap_or_else(|e| panic!("planning {query}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("running {query}: {e}"));
    pretty_format_batches(&batches)
        .expect("format")
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts `text` contains every one of `needles`, showing `text` if not.
#[track_caller]
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

/// Opens the lake at `location` with default options.
pub async fn open(location: &str) -> Engine {
    Engine::open(location, EngineOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open {location}: {e}"))
}

/// Runs `sql` and collects its rows; a failure panics naming the statement.
pub async fn run(engine: &Engine, sql: &str) -> Vec<RecordBatch> {
    engine
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The error `sql` fails with, when planned or when run; panics if it succeeds.
pub async fn error(engine: &Engine, sql: &str) -> String {
    match engine.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{sql}: expected an error"),
        },
    }
}
