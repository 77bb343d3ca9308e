//! `CREATE MODEL … OPTIONS (model_type 'recommender')`: the training query's
//! `customer_id, item, ts [, weight] [, segment]` columns (by name) become
//! a customer × item matrix of recency-decayed weights, held in the
//! session's memory pool while it is built.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::MemoryConsumer;
use futures::StreamExt;
use microseg_udfs::model::recommend::{self, NO_SEGMENT, Recommender, Row, Settings};

use super::recommender_options::RecommenderSettings;
use crate::catalog::{ModelMeta, StoredModel};
use crate::error::{Error, Result};
use crate::statements::OptionValue;

const REQUIRED: [&str; 3] = ["customer_id", "item", "ts"];
const OPTIONAL: [&str; 2] = ["weight", "segment"];

fn err(model: &str, message: impl std::fmt::Display) -> Error {
    Error::Usage(format!("CREATE MODEL {model}: {message}"))
}

/// Keys as text, interned in first-seen order.
#[derive(Default)]
struct Keys {
    index: HashMap<String, u32>,
    keys: Vec<String>,
}

impl Keys {
    fn intern(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.index.insert(key.to_string(), i);
        self.keys.push(key.to_string());
        i
    }

    fn bytes(&self) -> usize {
        self.keys.iter().map(|k| 2 * k.len() + 64).sum()
    }
}

/// Whether a key column is integer (kept as integers in results) or text;
/// anything else is refused, naming the column.
fn key_kind(model: &str, column: &str, data_type: &DataType) -> Result<bool> {
    match data_type {
        t if t.is_integer() => Ok(true),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(false),
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            Ok(false)
        }
        other => Err(err(
            model,
            format!("column {column} is {other}: customers and items must be integers or text"),
        )),
    }
}

/// A key column as text (integers written in decimal).
fn key_text(column: &ArrayRef, integer: bool) -> std::result::Result<ArrayRef, DataFusionError> {
    if integer {
        Ok(cast(&cast(column, &DataType::Int64)?, &DataType::Utf8)?)
    } else {
        Ok(cast(column, &DataType::Utf8)?)
    }
}

/// Trains a recommender.
pub async fn train(
    name: &str,
    version: u32,
    options: &BTreeMap<String, OptionValue>,
    query: &str,
    training: DataFrame,
) -> Result<StoredModel> {
    let started = Instant::now();
    let settings = RecommenderSettings::from_options(name, options)?;
    let schema = training.schema().as_arrow().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    for column in &names {
        if !REQUIRED.contains(column) && !OPTIONAL.contains(column) {
            return Err(err(
                name,
                format!(
                    "the training query has a column {column}: a recommender reads customer_id, item, ts and optionally weight and segment (rename with AS)"
                ),
            ));
        }
    }
    for column in REQUIRED {
        if !names.contains(&column) {
            return Err(err(
                name,
                format!(
                    "the training query has no column {column} (a recommender needs customer_id, item, ts [, weight] [, segment]; columns: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    let position = |c: &str| names.iter().position(|n| *n == c);
    let field = |c: &str| position(c).map(|i| schema.field(i).data_type().clone());
    let integer_customers = key_kind(
        name,
        "customer_id",
        &field("customer_id").unwrap_or(DataType::Null),
    )?;
    let integer_items = key_kind(name, "item", &field("item").unwrap_or(DataType::Null))?;
    match field("ts") {
        Some(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => {}
        other => {
            return Err(err(
                name,
                format!(
                    "column ts is {}: it must be a timestamp or a date (to_timestamp(seconds) converts epoch seconds)",
                    other.unwrap_or(DataType::Null)
                ),
            ));
        }
    }
    if let Some(t) = field("weight").filter(|t| !t.is_numeric()) {
        return Err(err(
            name,
            format!("column weight is {t}: it must be numeric"),
        ));
    }
    let segmented = position("segment").is_some();
    let pool = Arc::clone(training.task_ctx().memory_pool());
    let reservation = MemoryConsumer::new(format!("CREATE MODEL {name}")).register(&pool);
    let (mut customers, mut items, mut segments) =
        (Keys::default(), Keys::default(), Keys::default());
    let mut rows: Vec<Row> = Vec::new();
    let mut counted = 0usize;
    let mut latest = i64::MIN;
    let mut stream = training.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let column = |c: &str| position(c).map(|i| batch.column(i));
        let customer = key_text(
            column("customer_id").ok_or_else(|| err(name, "customer_id"))?,
            integer_customers,
        )?;
        let item = key_text(
            column("item").ok_or_else(|| err(name, "item"))?,
            integer_items,
        )?;
        let ts = cast(
            column("ts").ok_or_else(|| err(name, "ts"))?,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .and_then(|t| cast(&t, &DataType::Int64))
        .map_err(DataFusionError::from)?;
        let weight = column("weight")
            .map(|w| cast(w, &DataType::Float64))
            .transpose()
            .map_err(DataFusionError::from)?;
        let segment = column("segment")
            .map(|s| cast(s, &DataType::Utf8))
            .transpose()
            .map_err(DataFusionError::from)?;
        let (customer, item) = (customer.as_string::<i32>(), item.as_string::<i32>());
        let ts = ts.as_primitive::<Int64Type>();
        let weight = weight.as_ref().map(|w| w.as_primitive::<Float64Type>());
        let segment = segment.as_ref().map(|s| s.as_string::<i32>());
        for row in 0..batch.num_rows() {
            for (what, null) in [
                ("customer_id", customer.is_null(row)),
                ("item", item.is_null(row)),
                ("ts", ts.is_null(row)),
            ] {
                if null {
                    return Err(err(
                        name,
                        format!("column {what} is NULL in a training row"),
                    ));
                }
            }
            let w = match weight {
                None => 1.0,
                Some(w) if w.is_null(row) => {
                    return Err(err(name, "column weight is NULL in a training row"));
                }
                Some(w) => w.value(row),
            };
            if !(w.is_finite() && w >= 0.0) {
                return Err(err(
                    name,
                    format!("column weight has {w}: weights must be finite and ≥ 0"),
                ));
            }
            let segment = match segment {
                Some(s) if !s.is_null(row) => segments.intern(s.value(row)),
                _ => NO_SEGMENT,
            };
            latest = latest.max(ts.value(row));
            rows.push(Row {
                customer: customers.intern(customer.value(row)),
                item: items.intern(item.value(row)),
                weight: w,
                day: ts.value(row) as f64 / 86_400e6,
                segment,
            });
        }
        // Rows, keys and the built matrix (about as large as the rows).
        let needed = 2 * rows.len() * size_of::<Row>()
            + customers.bytes()
            + items.bytes()
            + segments.bytes();
        if needed > counted {
            reservation.try_grow(needed - counted)?;
            counted = needed;
        }
    }
    if rows.is_empty() {
        return Err(err(name, "the training query returns no rows"));
    }
    let n_rows = rows.len() as u64;
    let data = recommend::build(
        customers.keys,
        integer_customers,
        items.keys,
        integer_items,
        segmented.then_some(segments.keys),
        rows,
        settings.half_life_days,
    );
    let kernel_settings = Settings {
        method: settings.method,
        exclude_bought: settings.exclude_bought,
        min_support: settings.min_support,
        als: settings.als,
    };
    // The ALS factors, from the engine's pool like the rows.
    reservation.try_grow(Recommender::als_bytes(&data, &kernel_settings))?;
    let model = tokio::task::spawn_blocking(move || {
        let model = Recommender::new(data, kernel_settings);
        model.prepare();
        model
    })
    .await
    .map_err(|e| err(name, format!("training failed: {e}")))?;
    let mut resolved = settings.resolved();
    let kind = |integer: bool| if integer { "integer" } else { "text" };
    resolved.insert("customer_type".into(), kind(integer_customers).into());
    resolved.insert("item_type".into(), kind(integer_items).into());
    resolved.insert("segment".into(), segmented.to_string());
    // model_evaluate scores only rows after this: a global temporal split.
    if let Some(t) = chrono::DateTime::from_timestamp_micros(latest) {
        resolved.insert(
            "trained_through".into(),
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        );
    }
    let d = &model.data;
    let mut metrics = BTreeMap::new();
    metrics.insert("customers".into(), d.customers.len() as f64);
    metrics.insert("items".into(), d.items.len() as f64);
    metrics.insert("customer_item_pairs".into(), d.len() as f64);
    metrics.insert(
        "density".into(),
        d.len() as f64 / (d.customers.len() as f64 * d.items.len() as f64),
    );
    if segmented {
        metrics.insert("segments".into(), d.segments.len() as f64);
    }
    let meta = ModelMeta {
        name: name.to_string(),
        version,
        model_type: "recommender".into(),
        options: resolved,
        query: query.to_string(),
        features: vec![],
        rows: n_rows,
        k: 0,
        iterations: 0,
        converged: true,
        training_seconds: started.elapsed().as_secs_f64(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        metrics,
        parameters: BTreeMap::new(),
        label: None,
    };
    Ok(StoredModel {
        meta,
        centroids: vec![],
        sizes: vec![],
        trees: None,
        recommender: Some(Arc::new(model)),
        linkage: None,
    })
}
