//! `microseg forget` and `FORGET CUSTOMER`: erasure of one person.
//!
//! In this order, so a crash at any point leaves the person hidden and a
//! re-run finishes the job: (1) count their rows in the lake's tables
//! (before they are hidden), (2) put the salted hash of their key on the
//! suppression list (one atomic put: from then on every statement planned
//! by any process leaves them out), (3) rewrite every Delta table without
//! their rows and vacuum it with zero retention. Parquet sources belong to
//! upstream systems: they are reported as needing deletion there and stay
//! suppressed at query time.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::prelude::{col, lit};

use super::Engine;
use crate::error::{Error, Result};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgetLine {
    /// A table, or `_microseg/suppressed` for the list itself.
    pub table: String,
    /// `suppression list`, `delta` or `parquet`.
    pub kind: &'static str,
    /// Delta: rows removed; Parquet: the person's rows still upstream.
    pub rows: u64,
    /// Delta: the version after the delete commit.
    pub version: Option<u64>,
    /// Delta: data files deleted by the vacuum.
    pub files_vacuumed: Option<u64>,
    /// Delta: versions before the forget that can no longer be read.
    pub versions_unreadable: Option<u64>,
    /// What was done, in words.
    pub action: String,
}

/// What `forget` did.
#[derive(Debug, Clone)]
pub struct ForgetReport {
    /// The canonical form of the id (as it was hashed).
    pub customer: String,
    /// Whether the person was new on the list.
    pub added: bool,
    /// One line per table holding the entity key, after the list's line.
    pub lines: Vec<ForgetLine>,
}

impl ForgetReport {
    /// Whether any table held a row of the person.
    pub fn found(&self) -> bool {
        self.lines.iter().skip(1).any(|l| l.rows > 0)
    }

    /// The report as a result table.
    pub fn batch(&self) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_name", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("version", DataType::UInt64, true),
            Field::new("files_vacuumed", DataType::UInt64, true),
            Field::new("versions_unreadable", DataType::UInt64, true),
            Field::new("action", DataType::Utf8, false),
        ]));
        let l = &self.lines;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(l.iter().map(|l| &l.table))),
            Arc::new(StringArray::from_iter_values(l.iter().map(|l| l.kind))),
            Arc::new(UInt64Array::from_iter_values(l.iter().map(|l| l.rows))),
            Arc::new(l.iter().map(|l| l.version).collect::<UInt64Array>()),
            Arc::new(l.iter().map(|l| l.files_vacuumed).collect::<UInt64Array>()),
            Arc::new(
                l.iter()
                    .map(|l| l.versions_unreadable)
                    .collect::<UInt64Array>(),
            ),
            Arc::new(StringArray::from_iter_values(l.iter().map(|l| &l.action))),
        ];
        Ok(RecordBatch::try_new(schema, columns)
            .map_err(datafusion::error::DataFusionError::from)?)
    }
}

impl Engine {
    /// Forgets the customer whose entity key is `id` (see the module
    /// documentation). An id found in no table is still put on the list:
    /// rows arriving later stay hidden; the report says it was found nowhere.
    pub async fn forget(&self, id: &str, reason: Option<&str>) -> Result<ForgetReport> {
        let key = self.entity_key.clone();
        let sources: Vec<(String, DataType)> = self
            .lake
            .tables
            .iter()
            .filter_map(|t| {
                let field = t.schema.field_with_name(&key).ok()?;
                Some((t.name.clone(), field.data_type().clone()))
            })
            .collect();
        let deltas = self.lake.delta_tables_now().await?;
        let key_type = match sources.first() {
            Some((_, t)) => Some(t.clone()),
            None => self.delta_key_type(&deltas, &key).await?,
        };
        let canonical = match &key_type {
            Some(t) => crate::planning::canonical_key(id, t)
                .map_err(|e| Error::Usage(format!("forget: {e}")))?,
            None => id.trim().to_string(),
        };
        if canonical.is_empty() {
            return Err(Error::Usage("forget: the customer id is empty".into()));
        }
        let value = ScalarValue::Utf8(Some(canonical.clone()));

        // (1) Counted before the person is hidden from every plan.
        let mut upstream = Vec::new();
        for (table, data_type) in &sources {
            let typed = value
                .cast_to(data_type)
                .map_err(|e| Error::Usage(format!("forget: {e}")))?;
            let rows = self
                .ctx
                .table(table.as_str())
                .await?
                .filter(col(&key).eq(lit(typed)))?
                .count()
                .await? as u64;
            upstream.push((table.clone(), rows));
        }

        // (2) From here on every statement leaves the person out.
        let added = self.catalog.suppress(canonical.as_bytes(), reason).await?;
        self.cache.refresh(&self.catalog).await?;
        let mut lines = vec![ForgetLine {
            table: format!(
                "{}/{}",
                crate::catalog::CATALOG_DIR,
                crate::catalog::suppressed::DIR
            ),
            kind: "suppression list",
            rows: 0,
            version: None,
            files_vacuumed: None,
            versions_unreadable: None,
            action: if added {
                "added (salted hash)".into()
            } else {
                "already on the list".into()
            },
        }];

        // (3) Materialized tables: rewritten, old versions vacuumed.
        for spec in &deltas {
            let Some(erased) =
                crate::delta::erase(&self.lake.location, &spec.folder, &key, &value).await?
            else {
                continue;
            };
            lines.push(ForgetLine {
                table: spec.name.clone(),
                kind: "delta",
                rows: erased.rows_removed,
                version: Some(erased.version),
                files_vacuumed: Some(erased.files_vacuumed),
                versions_unreadable: Some(erased.versions_unreadable),
                action: if erased.rows_removed > 0 {
                    "rows deleted, older versions vacuumed".into()
                } else {
                    "no rows in the current version, older versions vacuumed".into()
                },
            });
        }
        for (table, rows) in upstream {
            lines.push(ForgetLine {
                table,
                kind: "parquet",
                rows,
                version: None,
                files_vacuumed: None,
                versions_unreadable: None,
                action: if rows > 0 {
                    "needs deletion upstream (suppressed at query time)".into()
                } else {
                    "not present (suppressed at query time)".into()
                },
            });
        }
        Ok(ForgetReport {
            customer: canonical,
            added,
            lines,
        })
    }

    /// The entity key's type in the first Delta table that has it.
    async fn delta_key_type(
        &self,
        deltas: &[crate::lake::DeltaTableSpec],
        key: &str,
    ) -> Result<Option<DataType>> {
        for spec in deltas {
            let table =
                crate::delta::open(&self.lake.location, &spec.folder, &crate::delta::At::Latest)
                    .await?;
            let Ok(snapshot) = table.snapshot() else {
                continue;
            };
            if let Ok(field) = snapshot.snapshot().arrow_schema().field_with_name(key) {
                return Ok(Some(field.data_type().clone()));
            }
        }
        Ok(None)
    }
}
