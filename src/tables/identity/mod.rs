//! Identity graphs: `CREATE IDENTITY GRAPH` reads the sources' keys and
//! match values (planned against each source when the statement runs),
//! links records ([`graph`]), gives stable profile ids, and returns what
//! the catalog stores; `identity_components(name)` reads the stored result.

mod components;
pub mod graph;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Expr, cast as cast_expr, col};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::catalog::{GraphMeta, GraphSpec, identity_graphs::components_schema};
use crate::error::{Error, Result};
pub use components::{Components, IdentityComponentsFunction, NAME as COMPONENTS_FUNCTION};

/// Separates the parts of a composite key's value.
const SEP: char = '\u{1f}';

/// A record read from a source: its key and each match key's value.
struct Record {
    source: usize,
    key: String,
    values: Vec<Option<String>>,
}

fn usage(spec: &GraphSpec, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("identity graph {}: {message}", spec.name))
}

/// Reads one source: its record keys and match values. A match key that
/// names a column the source lacks is NULL there.
async fn read_source(
    ctx: &SessionContext,
    spec: &GraphSpec,
    index: usize,
    applies: &mut [bool],
    out: &mut Vec<Record>,
) -> Result<u64> {
    let source = &spec.sources[index];
    let df = ctx.table(source.table.as_str()).await.map_err(|e| {
        usage(
            spec,
            format!("SOURCE {}: no such table or view ({e})", source.table),
        )
    })?;
    let schema = df.schema().clone();
    if schema.field_with_unqualified_name(&source.key).is_err() {
        return Err(usage(
            spec,
            format!(
                "SOURCE {} KEY {}: no such column (columns: {})",
                source.table,
                source.key,
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let state = ctx.state();
    let mut select: Vec<Expr> =
        vec![cast_expr(col(source.key.as_str()), DataType::Utf8).alias("__key")];
    // (match key, first column, parts) for the keys this source has.
    let mut layout = Vec::new();
    for (k, key) in spec.keys.iter().enumerate() {
        let mut exprs = Vec::new();
        for part in &key.parts {
            match state.create_logical_expr(part, &schema) {
                Ok(e) => exprs.push(e),
                Err(_) => break,
            }
        }
        if exprs.len() < key.parts.len() {
            continue;
        }
        applies[k] = true;
        layout.push((k, select.len(), exprs.len()));
        for (j, e) in exprs.into_iter().enumerate() {
            select.push(cast_expr(e, DataType::Utf8).alias(format!("__k{k}_{j}")));
        }
    }
    let df = df
        .select(select)
        .map_err(|e| usage(spec, format!("SOURCE {}: {e}", source.table)))?;
    let mut stream = df.execute_stream().await?;
    let mut rows = 0u64;
    let blocked: std::collections::HashSet<&str> =
        spec.block_values.iter().map(String::as_str).collect();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let strings: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()
            .map_err(datafusion::error::DataFusionError::from)?;
        let strings: Vec<&StringArray> = strings.iter().map(|c| c.as_string::<i32>()).collect();
        for row in 0..batch.num_rows() {
            if strings[0].is_null(row) {
                return Err(usage(
                    spec,
                    format!(
                        "SOURCE {} KEY {}: a record has a NULL key",
                        source.table, source.key
                    ),
                ));
            }
            let mut values = vec![None; spec.keys.len()];
            for &(k, at, parts) in &layout {
                let mut value = String::new();
                let mut ok = true;
                for j in 0..parts {
                    let c = strings[at + j];
                    if c.is_null(row) || blocked.contains(c.value(row)) {
                        ok = false;
                        break;
                    }
                    if j > 0 {
                        value.push(SEP);
                    }
                    value.push_str(c.value(row));
                }
                if ok && !blocked.contains(value.as_str()) {
                    values[k] = Some(value);
                }
            }
            out.push(Record {
                source: index,
                key: strings[0].value(row).to_string(),
                values,
            });
            rows += 1;
        }
    }
    Ok(rows)
}

/// Builds version `version` of the graph; `previous` is the last version
/// (metadata and components) whose profile ids are kept.
pub async fn build(
    ctx: &SessionContext,
    spec: &GraphSpec,
    version: u32,
    previous: Option<(GraphMeta, Vec<RecordBatch>)>,
) -> Result<(GraphMeta, Vec<RecordBatch>)> {
    let started = Instant::now();
    if spec.keys.len() > 64 {
        return Err(usage(spec, "at most 64 MATCH ON keys"));
    }
    let mut records = Vec::new();
    let mut counts = BTreeMap::new();
    let mut applies = vec![false; spec.keys.len()];
    for i in 0..spec.sources.len() {
        let n = read_source(ctx, spec, i, &mut applies, &mut records).await?;
        counts.insert(spec.sources[i].table.clone(), n);
    }
    if let Some(k) = applies.iter().position(|a| !a) {
        return Err(usage(
            spec,
            format!(
                "MATCH ON {} applies to none of the sources (a column it names is in none of them, or it does not plan)",
                spec.keys[k].label()
            ),
        ));
    }
    if records.is_empty() {
        return Err(usage(spec, "the sources have no records"));
    }
    records.sort_unstable_by(|a, b| (a.source, &a.key).cmp(&(b.source, &b.key)));
    if let Some(w) = records
        .windows(2)
        .find(|w| w[0].source == w[1].source && w[0].key == w[1].key)
    {
        let s = &spec.sources[w[0].source];
        return Err(usage(
            spec,
            format!(
                "SOURCE {} KEY {}: the key {} is used by more than one record",
                s.table, s.key, w[0].key
            ),
        ));
    }

    let mut order: Vec<usize> = (0..spec.keys.len()).collect();
    order.sort_by_key(|&k| (spec.keys[k].priority.unwrap_or(u32::MAX), k));
    let input = graph::Input {
        records: records.len(),
        values: (0..spec.keys.len())
            .map(|k| records.iter().map(|r| r.values[k].as_deref()).collect())
            .collect(),
        limits: spec.keys.iter().map(|k| k.limit).collect(),
        order,
        max_size: spec.max_component_size,
    };
    let c = graph::components(&input);

    // Stable ids from the previous version, matched by (source table, key).
    let (previous_ids, next_id) = match &previous {
        Some((meta, batches)) => {
            let mut map: HashMap<(String, String), i64> = HashMap::new();
            for b in batches {
                let (s, k, p) = (
                    b.column(0).as_string::<i32>(),
                    b.column(1).as_string::<i32>(),
                    b.column(2)
                        .as_primitive::<datafusion::arrow::datatypes::Int64Type>(),
                );
                for i in 0..b.num_rows() {
                    map.insert((s.value(i).to_string(), k.value(i).to_string()), p.value(i));
                }
            }
            let ids = records
                .iter()
                .map(|r| {
                    map.get(&(spec.sources[r.source].table.clone(), r.key.clone()))
                        .copied()
                })
                .collect::<Vec<_>>();
            (ids, meta.next_profile_id)
        }
        None => (vec![None; records.len()], 1),
    };
    let ids = graph::profile_ids(&c.root, &previous_ids, next_id);

    let mut histogram = BTreeMap::new();
    let mut kept = std::collections::HashSet::new();
    let mut profiles = std::collections::HashSet::new();
    for (i, &r) in c.root.iter().enumerate() {
        if r as usize == i {
            let bucket = match c.size[i] {
                1 => "1",
                2 => "2",
                3..=5 => "3-5",
                6..=10 => "6-10",
                11..=50 => "11-50",
                _ => "51+",
            };
            *histogram.entry(bucket.to_string()).or_insert(0u64) += 1;
        }
        profiles.insert(ids[i]);
        if previous_ids[i] == Some(ids[i]) {
            kept.insert(ids[i]);
        }
    }
    let labels: Vec<String> = spec.keys.iter().map(|k| k.label()).collect();
    let matched_by = StringArray::from_iter(c.matched_by.iter().map(|&bits| {
        (bits != 0).then(|| {
            (0..labels.len())
                .filter(|k| bits & (1 << k) != 0)
                .map(|k| labels[k].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
    }));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            records
                .iter()
                .map(|r| spec.sources[r.source].table.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.key.as_str()),
        )),
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(Int64Array::from_iter_values(
            c.size.iter().map(|&s| s as i64),
        )),
        Arc::new(matched_by),
        Arc::new(BooleanArray::from(c.flagged.clone())),
    ];
    let batch = RecordBatch::try_new(components_schema(), columns)
        .map_err(datafusion::error::DataFusionError::from)?;
    let meta = GraphMeta {
        spec: spec.clone(),
        version,
        records: counts,
        profiles: profiles.len() as u64,
        size_histogram: histogram,
        merges: labels
            .iter()
            .cloned()
            .zip(c.merges.iter().copied())
            .collect(),
        kept_profiles: kept.len() as u64,
        next_profile_id: ids.iter().copied().max().unwrap_or(0).max(next_id - 1) + 1,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        build_seconds: started.elapsed().as_secs_f64(),
    };
    Ok((meta, vec![batch]))
}

/// `SHOW IDENTITY GRAPHS`: one row per graph (its latest version).
pub fn show(graphs: &[GraphMeta]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&GraphMeta) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(graphs.iter().map(f)))
    };
    let int = |f: &dyn Fn(&GraphMeta) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(graphs.iter().map(f)))
    };
    RecordBatch::try_from_iter(vec![
        ("name", text(&|g| g.spec.name.clone())),
        ("version", int(&|g| g.version as i64)),
        (
            "sources",
            text(&|g| {
                g.spec
                    .sources
                    .iter()
                    .map(|s| s.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
        (
            "keys",
            text(&|g| {
                g.spec
                    .keys
                    .iter()
                    .map(|k| k.label())
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        ("records", int(&|g| g.records.values().sum::<u64>() as i64)),
        ("profiles", int(&|g| g.profiles as i64)),
        ("created_at", text(&|g| g.created_at.clone())),
    ])
    .map_err(|e| Error::DataFusion(e.into()))
}

/// `DESCRIBE IDENTITY GRAPH`: (property, item, value) rows — sources with
/// their record counts, keys with LIMIT/PRIORITY and merges made or
/// dropped, blocked values, the size guard, the component size histogram.
pub fn describe(g: &GraphMeta) -> Result<RecordBatch> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    rows.push(("version".into(), g.spec.name.clone(), g.version.to_string()));
    for s in &g.spec.sources {
        let n = g.records.get(&s.table).copied().unwrap_or(0);
        rows.push((
            "source".into(),
            format!("{} KEY {}", s.table, s.key),
            format!("{n} records"),
        ));
    }
    for k in &g.spec.keys {
        let label = k.label();
        let [made, limit, size] = g.merges.get(&label).copied().unwrap_or_default();
        let mut opts = String::new();
        if let Some(l) = k.limit {
            opts.push_str(&format!("LIMIT {l} "));
        }
        if let Some(p) = k.priority {
            opts.push_str(&format!("PRIORITY {p} "));
        }
        rows.push((
            "key".into(),
            label,
            format!(
                "{opts}merges {made}, dropped by limits {limit}, dropped by the size guard {size}"
            ),
        ));
    }
    rows.push((
        "block_values".into(),
        String::new(),
        format!("{:?}", g.spec.block_values),
    ));
    rows.push((
        "max_component_size".into(),
        String::new(),
        g.spec
            .max_component_size
            .map_or("none".into(), |m| m.to_string()),
    ));
    rows.push(("profiles".into(), String::new(), g.profiles.to_string()));
    rows.push((
        "kept_profiles".into(),
        String::new(),
        g.kept_profiles.to_string(),
    ));
    for bucket in ["1", "2", "3-5", "6-10", "11-50", "51+"] {
        if let Some(n) = g.size_histogram.get(bucket) {
            rows.push(("component_size".into(), bucket.into(), n.to_string()));
        }
    }
    rows.push(("created_at".into(), String::new(), g.created_at.clone()));
    rows.push((
        "build_seconds".into(),
        String::new(),
        format!("{:.3}", g.build_seconds),
    ));
    let col = |f: fn(&(String, String, String)) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    RecordBatch::try_from_iter(vec![
        ("property", col(|r| &r.0)),
        ("item", col(|r| &r.1)),
        ("value", col(|r| &r.2)),
    ])
    .map_err(|e| Error::DataFusion(e.into()))
}
