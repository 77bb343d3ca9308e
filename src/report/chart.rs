//! One chart: its words (title, units, a one-sentence reading), the SQL
//! that produced its rows, and a Vega-Lite spec over those rows.
//!
//! The rows go into the spec as the named dataset `table`, so the page
//! (and the browser tests) can read back exactly what was drawn.

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use serde_json::{Map, Value, json};

use crate::error::Result;

/// A query result as JSON objects, one per row.
pub type Rows = Vec<Map<String, Value>>;

/// A chart ready to render.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Unique in the page (used in element ids).
    pub id: String,
    /// What it shows.
    pub title: String,
    /// The units of its measures.
    pub units: String,
    /// One sentence saying what the data says.
    pub reading: String,
    /// The statement that produced `rows`, to reproduce it.
    pub sql: String,
    /// Vega-Lite spec without data.
    pub spec: Value,
    /// The rows drawn.
    pub rows: Rows,
}

impl Chart {
    /// The full Vega-Lite spec, data included.
    pub fn full_spec(&self) -> Value {
        let mut spec = self.spec.clone();
        if let Value::Object(map) = &mut spec {
            map.insert("data".into(), json!({"name": "table", "values": self.rows}));
            map.entry("width").or_insert(json!(560));
        }
        spec
    }
}

/// Arrow batches → JSON rows (dates and timestamps as ISO text, decimals
/// as numbers, NaN as null).
pub fn rows(batches: &[RecordBatch]) -> Result<Rows> {
    let mut out = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut row = Map::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let value = ScalarValue::try_from_array(column, i)?;
                row.insert(field.name().clone(), to_json(&value));
            }
            out.push(row);
        }
    }
    Ok(out)
}

fn to_json(value: &ScalarValue) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    let float = |f: f64| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    match value {
        ScalarValue::Boolean(Some(b)) => json!(b),
        ScalarValue::Int8(Some(v)) => json!(v),
        ScalarValue::Int16(Some(v)) => json!(v),
        ScalarValue::Int32(Some(v)) => json!(v),
        ScalarValue::Int64(Some(v)) => json!(v),
        ScalarValue::UInt8(Some(v)) => json!(v),
        ScalarValue::UInt16(Some(v)) => json!(v),
        ScalarValue::UInt32(Some(v)) => json!(v),
        ScalarValue::UInt64(Some(v)) => json!(v),
        ScalarValue::Float32(Some(v)) => float(f64::from(*v)),
        ScalarValue::Float64(Some(v)) => float(*v),
        ScalarValue::Decimal128(Some(v), _, scale) => {
            float(*v as f64 / 10f64.powi(i32::from(*scale)))
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => {
            json!(s)
        }
        other => json!(other.to_string()),
    }
}

/// The number in `field` of `row` (0 when missing or not a number).
pub fn num(row: &Map<String, Value>, field: &str) -> f64 {
    row.get(field).and_then(Value::as_f64).unwrap_or(0.0)
}

/// The text of `field` of `row` (numbers printed; "(none)" for null).
pub fn text(row: &Map<String, Value>, field: &str) -> String {
    match row.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "(none)".into(),
        Some(other) => other.to_string(),
    }
}

/// A percentage with one decimal.
pub fn pct(part: f64, whole: f64) -> String {
    if whole == 0.0 {
        return "0%".into();
    }
    format!("{:.1}%", 100.0 * part / whole)
}

/// Horizontal bars of `value` per `category`, longest first.
pub fn bars(category: &str, category_title: &str, value: &str, value_title: &str) -> Value {
    json!({
        "mark": {"type": "bar", "tooltip": true},
        "encoding": {
            "y": {"field": category, "type": "nominal", "title": category_title, "sort": "-x"},
            "x": {"field": value, "type": "quantitative", "title": value_title}
        }
    })
}

/// Bars of `value` per `x`, split side by side by `color`.
pub fn grouped_bars(x: &str, x_title: &str, value: &str, value_title: &str, color: &str) -> Value {
    json!({
        "mark": {"type": "bar", "tooltip": true},
        "encoding": {
            "x": {"field": x, "type": "nominal", "title": x_title, "sort": null},
            "xOffset": {"field": color},
            "y": {"field": value, "type": "quantitative", "title": value_title},
            "color": {"field": color, "type": "nominal"}
        }
    })
}

/// A heatmap of `value` over `x` × `y`, each cell labelled with `label`.
pub fn heatmap(
    (x, x_title): (&str, &str),
    (y, y_title): (&str, &str),
    (value, value_title): (&str, &str),
    label: &str,
) -> Value {
    json!({
        "encoding": {
            "x": {"field": x, "type": "ordinal", "title": x_title},
            "y": {"field": y, "type": "ordinal", "title": y_title}
        },
        "layer": [
            {"mark": {"type": "rect", "tooltip": true},
             "encoding": {"color": {"field": value, "type": "quantitative", "title": value_title,
                                    "scale": {"scheme": "blues"}}}},
            {"mark": {"type": "text", "fontSize": 10},
             "encoding": {"text": {"field": label, "type": "nominal"}}}
        ]
    })
}

/// Points with an interval (`low`–`high`) per `category`, and a rule at 0.
pub fn intervals(
    category: &str,
    category_title: &str,
    value: &str,
    low: &str,
    high: &str,
    title: &str,
) -> Value {
    let y = json!({"field": category, "type": "nominal", "title": category_title});
    json!({
        "layer": [
            {"mark": "rule", "encoding": {
                "y": y,
                "x": {"field": low, "type": "quantitative", "title": title},
                "x2": {"field": high}}},
            {"mark": {"type": "point", "filled": true, "size": 60, "tooltip": true}, "encoding": {
                "y": y,
                "x": {"field": value, "type": "quantitative"}}},
            {"mark": {"type": "rule", "strokeDash": [4, 4], "color": "gray"},
             "data": {"values": [{"zero": 0}]},
             "encoding": {"x": {"field": "zero", "type": "quantitative"}}}
        ]
    })
}
