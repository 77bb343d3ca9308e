//! The audit log: one row per statement served by `microseg serve` or run
//! by `materialize`, under `_microseg/audit/date=YYYY-MM-DD/`.
//!
//! Each statement's row is one small Parquet file, written with a single
//! put before the statement's answer is complete (the last batch of a
//! query, an update's count). A put is atomic, so a row is either whole or
//! absent, never torn by a crash, and a row the client saw committed
//! survives `kill -9`; files are never rewritten (append-only). Many small
//! files are the price: a compaction is left for later.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;

use super::Catalog;
use crate::error::Result;

/// Folder of the log under `_microseg/`.
pub const DIR: &str = "audit";
/// The table analysts query it as.
pub const TABLE: &str = "audit_log";

/// One audited statement.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    /// When the statement arrived.
    pub time: DateTime<Utc>,
    /// Who ran it (the server's user; the OS user for a job).
    pub user: String,
    /// Their role (`analyst`, `reader`, `job`).
    pub role: String,
    /// The purpose they act for, when roles have one.
    pub purpose: Option<String>,
    /// `serve` or `materialize`.
    pub source: String,
    /// The statement as sent.
    pub statement: String,
    /// Tables scanned by its plan.
    pub tables: Vec<String>,
    /// Declared personal columns (`table.column`) its plan reads.
    pub personal_columns: Vec<String>,
    /// Rows returned (affected, for an update); NULL when it did not finish.
    pub rows: Option<i64>,
    /// `ok`, `refused: <rule>` or `error`.
    pub outcome: String,
    /// From arrival to the last row, in milliseconds.
    pub duration_ms: f64,
}

/// The log's columns; `date` is the partition column of the folders.
pub fn schema() -> SchemaRef {
    let list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("user", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
        Field::new("purpose", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("statement", DataType::Utf8, false),
        Field::new("tables", list(), false),
        Field::new("personal_columns", list(), false),
        Field::new("rows", DataType::Int64, true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("duration_ms", DataType::Float64, false),
    ]))
}

fn batch(rows: &[AuditRow]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&AuditRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let lists = |f: &dyn Fn(&AuditRow) -> &[String]| -> ArrayRef {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for row in rows {
            for item in f(row) {
                builder.values().append_value(item);
            }
            builder.append(true);
        }
        Arc::new(builder.finish())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.time.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
        text(&|r| Some(&r.user)),
        text(&|r| Some(&r.role)),
        text(&|r| r.purpose.as_deref()),
        text(&|r| Some(&r.source)),
        text(&|r| Some(&r.statement)),
        lists(&|r| &r.tables),
        lists(&|r| &r.personal_columns),
        Arc::new(rows.iter().map(|r| r.rows).collect::<Int64Array>()),
        text(&|r| Some(&r.outcome)),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.duration_ms),
        )),
    ];
    Ok(
        RecordBatch::try_new(schema(), columns)
            .map_err(datafusion::error::DataFusionError::from)?,
    )
}

impl Catalog {
    /// Appends `rows` (all of one day, that of the first) as one new file;
    /// returns when the file is stored.
    pub async fn append_audit(&self, rows: &[AuditRow]) -> Result<()> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let batch = batch(rows)?;
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None)
            .map_err(datafusion::error::DataFusionError::from)?;
        writer
            .write(&batch)
            .map_err(datafusion::error::DataFusionError::from)?;
        writer
            .close()
            .map_err(datafusion::error::DataFusionError::from)?;
        // Time first, so a listing is in order; random after, so two
        // statements in the same microsecond never share a name.
        let name = format!(
            "{DIR}/date={}/{}-{:016x}.parquet",
            first.time.format("%Y-%m-%d"),
            first.time.format("%H%M%S%.6f"),
            rand::random::<u64>()
        );
        self.put(&name, bytes)
            .await
            .map_err(|e| self.error(&name, format!("cannot append to the audit log: {e}")))
    }

    /// The URL of the log's folder, for registering it as a table.
    pub fn audit_url(&self) -> String {
        self.location
            .url_of(&format!("{}/{DIR}/", super::CATALOG_DIR))
    }
}
