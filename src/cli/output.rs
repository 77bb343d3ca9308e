//! Writing query results: to the terminal as a table, or as CSV / JSON /
//! NDJSON, or into a Parquet / CSV / JSON file. Results are streamed batch by
//! batch; only the rows a table display shows are kept in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use clap::ValueEnum;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use crate::error::{Error, Result};

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned text table (at most `--max-rows` rows shown).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// A sink for record batches.
enum Sink<W: Write> {
    Table {
        out: W,
        shown: Vec<RecordBatch>,
        shown_rows: usize,
        max_rows: usize,
    },
    Csv(datafusion::arrow::csv::Writer<W>),
    Json(ArrayWriter<W>),
    Ndjson(LineDelimitedWriter<W>),
    Parquet(ArrowWriter<W>),
}

impl<W: Write + Send> Sink<W> {
    fn new(format: Format, out: W, max_rows: usize) -> Self {
        match format {
            Format::Table => Sink::Table {
                out,
                shown: Vec::new(),
                shown_rows: 0,
                max_rows,
            },
            Format::Csv => Sink::Csv(CsvWriterBuilder::new().with_header(true).build(out)),
            Format::Json => Sink::Json(ArrayWriter::new(out)),
            Format::Ndjson => Sink::Ndjson(LineDelimitedWriter::new(out)),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let arrow = |e| Error::DataFusion(DataFusionError::ArrowError(Box::new(e), None));
        match self {
            Sink::Table {
                shown,
                shown_rows,
                max_rows,
                ..
            } => {
                let room = max_rows.saturating_sub(*shown_rows);
                if room > 0 {
                    let take = room.min(batch.num_rows());
                    shown.push(batch.slice(0, take));
                    *shown_rows += take;
                }
                Ok(())
            }
            Sink::Csv(w) => w.write(&nested_as_text(batch)?).map_err(arrow),
            Sink::Json(w) => w.write(batch).map_err(arrow),
            Sink::Ndjson(w) => w.write(batch).map_err(arrow),
            Sink::Parquet(w) => w.write(batch).map_err(|e| Error::DataFusion(e.into())),
        }
    }

    fn finish(self, schema: &SchemaRef, total_rows: u64) -> Result<()> {
        let arrow = |e| Error::DataFusion(DataFusionError::ArrowError(Box::new(e), None));
        match self {
            Sink::Table {
                mut out,
                shown,
                shown_rows,
                ..
            } => {
                let shown = if shown.is_empty() {
                    vec![RecordBatch::new_empty(schema.clone())]
                } else {
                    shown
                };
                if !schema.fields().is_empty() {
                    writeln!(out, "{}", pretty_format_batches(&shown).map_err(arrow)?)?;
                }
                if (shown_rows as u64) < total_rows {
                    writeln!(
                        out,
                        "({shown_rows} of {total_rows} rows shown; use --max-rows or --format csv for all)"
                    )?;
                }
                out.flush()?;
                Ok(())
            }
            Sink::Csv(w) => {
                let mut out = w.into_inner();
                out.flush()?;
                Ok(())
            }
            Sink::Json(mut w) => {
                w.finish().map_err(arrow)?;
                let mut out = w.into_inner();
                out.flush()?;
                Ok(())
            }
            Sink::Ndjson(mut w) => {
                w.finish().map_err(arrow)?;
                let mut out = w.into_inner();
                out.flush()?;
                Ok(())
            }
            Sink::Parquet(w) => {
                w.close().map_err(|e| Error::DataFusion(e.into()))?;
                Ok(())
            }
        }
    }
}

/// `batch` with its list, struct and map columns replaced by their text, as
/// DuckDB writes them to CSV: `[a, b]`, `{field: value, …}`. Arrow's CSV
/// writer refuses nested columns outright. A NULL value stays an empty field;
/// a NULL inside a value is written NULL so it differs from an empty string.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let arrow = |e: ArrowError| Error::DataFusion(DataFusionError::ArrowError(Box::new(e), None));
    let options = FormatOptions::default().with_null("NULL");
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options).map_err(arrow)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
            } else {
                let value = formatter.value(row).try_to_string().map_err(arrow)?;
                text.append_value(value);
            }
        }
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow)
}

/// Streams `df` to `out` in `format`; returns the number of rows.
pub async fn print(
    df: DataFrame,
    format: Format,
    max_rows: usize,
    out: impl Write + Send,
) -> Result<u64> {
    let sink = Sink::new(format, out, max_rows);
    drain(df, sink).await
}

/// Streams `df` into `path`; the format follows the extension (`.parquet`,
/// `.csv`, `.json`, `.ndjson`/`.jsonl`). The file appears only when complete:
/// rows go to a temporary sibling that is renamed at the end.
pub async fn write_file(df: DataFrame, path: &Path) -> Result<u64> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let tmp = temp_sibling(path);
    let file = File::create(&tmp)
        .map_err(|e| Error::Usage(format!("--output {}: {e}", path.display())))?;
    let out = BufWriter::new(file);
    let sink = match ext.as_str() {
        "parquet" => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let schema = df.schema().inner().clone();
            match ArrowWriter::try_new(out, schema, Some(props)) {
                Ok(w) => Sink::Parquet(w),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::DataFusion(e.into()));
                }
            }
        }
        "csv" => Sink::new(Format::Csv, out, 0),
        "json" => Sink::new(Format::Json, out, 0),
        "ndjson" | "jsonl" => Sink::new(Format::Ndjson, out, 0),
        _ => {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Usage(format!(
                "--output {}: unknown extension {ext:?}; use .parquet, .csv, .json, .ndjson or .jsonl",
                path.display()
            )));
        }
    };
    match drain(df, sink).await {
        Ok(rows) => {
            std::fs::rename(&tmp, path)?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

async fn drain<W: Write + Send>(df: DataFrame, mut sink: Sink<W>) -> Result<u64> {
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        sink.write(&batch)?;
    }
    sink.finish(&schema, rows)?;
    Ok(rows)
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
