//! The report's subjects, one file each, and what they share: the
//! [`Context`] (the day, the segments, the models, the tables at hand).

pub mod behaviour;
pub mod clusters;
pub mod clv;
pub mod lift;
pub mod migration;
pub mod segments;

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::chart::{self, Rows, text};
use super::{ReportOptions, Runner};
use crate::error::{Error, Result};

/// What the segments of the report are.
#[derive(Debug, Clone, PartialEq)]
pub enum Segments {
    /// rfm()'s standard segment.
    Rfm,
    /// A stored segment set, applied to rfm()'s columns.
    Set(String),
    /// The clusters of a k-means model over rfm()'s columns.
    Model { name: String, features: Vec<String> },
    /// A column of a table or view keyed by `customer_id` (its latest
    /// `as_of` snapshot when it has one).
    Table {
        table: String,
        column: String,
        snapshot: bool,
    },
}

/// A stored model, as SHOW MODELS lists it.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub model_type: String,
    pub features: Vec<String>,
}

/// What every section needs to know.
#[derive(Debug, Clone)]
pub struct Context {
    /// The report covers data before this day (exclusive).
    pub as_of: NaiveDate,
    /// Whether `--as-of` was given (rfm() is then cut there too).
    pub as_of_given: bool,
    /// The segments.
    pub segments: Segments,
    /// The models to show.
    pub models: Vec<Model>,
    tables: BTreeSet<String>,
}

impl Context {
    /// Reads what the lake holds and checks the options against it.
    pub async fn new(runner: &dyn Runner, options: &ReportOptions) -> Result<Context> {
        let lake = runner.lake();
        let tables: BTreeSet<String> = lake
            .tables
            .iter()
            .map(|t| t.name.clone())
            .chain(lake.delta_tables.iter().map(|t| t.name.clone()))
            .collect();
        let as_of = match options.as_of {
            Some(day) => day,
            None if tables.contains("orders") => {
                let rows = query(
                    runner,
                    "SELECT CAST(CAST(max(order_ts) AS DATE) + INTERVAL '1 day' AS VARCHAR) AS day FROM orders",
                )
                .await?;
                rows.first()
                    .and_then(|r| NaiveDate::parse_from_str(&text(r, "day"), "%Y-%m-%d").ok())
                    .unwrap_or_else(|| chrono::Utc::now().date_naive())
            }
            None => chrono::Utc::now().date_naive(),
        };
        let segments = match &options.segments {
            None => Segments::Rfm,
            Some(name) => segments_named(runner, &tables, name).await?,
        };
        let models = models(runner, &options.models).await?;
        Ok(Context {
            as_of,
            as_of_given: options.as_of.is_some(),
            segments,
            models,
            tables,
        })
    }

    /// Whether the lake has `table`.
    pub fn has(&self, table: &str) -> bool {
        self.tables.contains(table)
    }

    /// The Delta tables and Parquet tables of the lake, by name.
    pub fn tables(&self) -> impl Iterator<Item = &String> {
        self.tables.iter()
    }

    /// `DATE '…'` of the as-of day.
    pub fn day(&self) -> String {
        format!("DATE '{}'", self.as_of)
    }

    /// The as-of day as a timestamp at midnight.
    pub fn midnight(&self) -> String {
        format!("CAST(DATE '{}' AS TIMESTAMP)", self.as_of)
    }

    /// The rfm() call every segment chart starts from.
    pub fn rfm(&self) -> String {
        if self.as_of_given {
            format!("rfm(orders, customer_id, order_ts, amount, {})", self.day())
        } else {
            "rfm(orders, customer_id, order_ts, amount)".into()
        }
    }

    /// `base AS (…)`: one row per buying customer with rfm()'s columns and
    /// `segment`.
    pub fn base_cte(&self) -> String {
        let rfm = self.rfm();
        let columns = "x.customer_id, x.recency_days, x.frequency, CAST(x.monetary AS DOUBLE) AS monetary, x.r, x.f";
        let Segments::Table {
            table,
            column,
            snapshot,
        } = &self.segments
        else {
            let expr = self.segments.expr().unwrap_or_else(|| "x.segment".into());
            return format!("base AS (SELECT {columns}, {expr} AS segment FROM {rfm} x)");
        };
        let latest = if *snapshot {
            format!(" WHERE as_of = (SELECT max(as_of) FROM {table})")
        } else {
            String::new()
        };
        format!(
            "base AS (SELECT {columns}, coalesce(CAST(t.{column} AS VARCHAR), '(none)') AS segment FROM {rfm} x \
             LEFT JOIN (SELECT customer_id, {column} FROM {table}{latest}) t ON t.customer_id = x.customer_id)"
        )
    }

    /// How the segments are described in the page.
    pub fn segments_label(&self) -> String {
        match &self.segments {
            Segments::Rfm => "rfm() standard segments".into(),
            Segments::Set(set) => format!("segment set {set}"),
            Segments::Model { name, .. } => format!("clusters of {name}"),
            Segments::Table { table, column, .. } => format!("{table}.{column}"),
        }
    }
}

impl Segments {
    /// The segment as an expression over rfm()'s columns (which the daily
    /// snapshot table has too); `None` for a table's column.
    pub fn expr(&self) -> Option<String> {
        match self {
            Segments::Rfm => Some("rfm_segment(r, f)".into()),
            Segments::Set(set) => Some(format!("segment_of({})", quoted(set))),
            Segments::Model { name, features } => Some(format!(
                "CAST(cluster_assign({}, {}) AS VARCHAR)",
                quoted(name),
                features.join(", ")
            )),
            Segments::Table { .. } => None,
        }
    }
}

/// The columns rfm() gives, which a model must be trained on to segment.
pub const RFM_COLUMNS: [&str; 8] = [
    "recency_days",
    "tenure_days",
    "frequency",
    "monetary",
    "avg_amount",
    "r",
    "f",
    "m",
];

/// Whether `model` is a k-means model over rfm() columns only.
pub fn segments_by(model: &Model) -> bool {
    model.model_type == "kmeans"
        && !model.features.is_empty()
        && model
            .features
            .iter()
            .all(|f| RFM_COLUMNS.contains(&f.as_str()))
}

/// `--segments NAME`: a stored segment set, a k-means model over rfm()
/// columns, else `TABLE[:COLUMN]`.
async fn segments_named(
    runner: &dyn Runner,
    tables: &BTreeSet<String>,
    name: &str,
) -> Result<Segments> {
    let sets = set_names(runner).await?;
    if sets.iter().any(|s| s == name) {
        return Ok(Segments::Set(name.to_string()));
    }
    if let Some(model) = models(runner, &[])
        .await?
        .into_iter()
        .find(|m| m.name == name)
    {
        if !segments_by(&model) {
            return Err(Error::Usage(format!(
                "--segments {name}: a model segments only when it is k-means over rfm() columns ({}); {name} is {} over {}",
                RFM_COLUMNS.join(", "),
                model.model_type,
                model.features.join(", ")
            )));
        }
        return Ok(Segments::Model {
            name: model.name,
            features: model.features,
        });
    }
    let (table, column) = name.split_once(':').unwrap_or((name, "segment"));
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    if !tables.contains(table) || !plain(column) {
        return Err(Error::Usage(format!(
            "--segments {name}: neither a segment set of the lake (sets: {}) nor a k-means model nor TABLE[:COLUMN] of a table of the lake (tables: {})",
            if sets.is_empty() {
                "none".to_string()
            } else {
                sets.join(", ")
            },
            tables.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    query(
        runner,
        &format!("SELECT customer_id, {column} FROM {table} LIMIT 0"),
    )
    .await
    .map_err(|e| Error::Usage(format!("--segments {name}: {e}")))?;
    let snapshot = query(runner, &format!("SELECT max(as_of) AS m FROM {table}"))
        .await
        .is_ok();
    Ok(Segments::Table {
        table: table.to_string(),
        column: column.to_string(),
        snapshot,
    })
}

/// The names of the lake's segment sets.
pub async fn set_names(runner: &dyn Runner) -> Result<Vec<String>> {
    let sets = runner.catalog().segment_sets().await?;
    Ok(sets.into_iter().map(|s| s.name).collect())
}

/// Every model of the lake, as SHOW MODELS lists them.
pub async fn all_models(runner: &dyn Runner) -> Result<Vec<Model>> {
    let listed = crate::models::show(&runner.catalog().models().await?)?;
    Ok(chart::rows(&[listed])?
        .iter()
        .map(|r| Model {
            name: text(r, "name"),
            model_type: text(r, "model_type"),
            features: text(r, "features")
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
        })
        .collect())
}

/// The models to show: those named, or all of them.
async fn models(runner: &dyn Runner, named: &[String]) -> Result<Vec<Model>> {
    let all = all_models(runner).await?;
    if named.is_empty() {
        return Ok(all);
    }
    named
        .iter()
        .map(|name| {
            all.iter()
                .find(|m| &m.name == name)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
                    Error::Usage(format!(
                        "--model {name}: no such model in the lake (models: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ))
                })
        })
        .collect()
}

/// `sql`'s rows as JSON.
pub async fn query(runner: &dyn Runner, sql: &str) -> Result<Rows> {
    chart::rows(&runner.query(sql).await?)
}

/// A model name as an SQL string literal.
pub fn quoted(name: &str) -> String {
    format!("'{}'", name.replace('\'', "''"))
}
