//! The segment explorer: pick a segmentation (rfm()'s segments, a stored
//! segment set, or a k-means model over rfm() columns) → its sizes; pick
//! one segment → its profile against the whole base, its top products and
//! its size over the materialized snapshots.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::runner::WebRunner;
use super::{AppState, html, nav, require};
use crate::report::chart::{self, Chart, num, text};
use crate::report::html::{Scripts, esc, page};
use crate::report::sections::migration::SNAPSHOTS;
use crate::report::sections::{Context, all_models, query, segments_by, set_names};
use crate::report::{ReportOptions, Runner};

/// `/explorer?by=&segment=`.
#[derive(Debug, Default, Deserialize)]
pub struct ExplorerQuery {
    /// `rfm`, `set:NAME` or `model:NAME`.
    #[serde(default)]
    by: String,
    /// The segment to profile (default: the largest).
    #[serde(default)]
    segment: String,
}

/// GET /explorer.
pub async fn handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ExplorerQuery>,
) -> Response {
    let web = match require(&state, &headers) {
        Ok(web) => web,
        Err(redirect) => return *redirect,
    };
    let runner = WebRunner {
        session: web.session.clone(),
        gate: &state.gate,
    };
    let (body, charts) = match explore(&runner, &q).await {
        Ok(done) => done,
        Err(e) => (
            format!("<p class=\"error\">{}</p>", esc(&e.to_string())),
            Vec::new(),
        ),
    };
    let refs: Vec<&Chart> = charts.iter().collect();
    html(
        StatusCode::OK,
        page(
            "Segment explorer",
            &nav(&web),
            &body,
            &refs,
            Scripts::Linked,
        ),
    )
}

/// The choices of segmentation: (value of `by`, label).
async fn choices(runner: &dyn Runner) -> crate::Result<Vec<(String, String)>> {
    let mut out = vec![("rfm".to_string(), "rfm() standard segments".to_string())];
    for name in set_names(runner).await? {
        out.push((format!("set:{name}"), format!("segment set {name}")));
    }
    for model in all_models(runner).await? {
        if segments_by(&model) {
            out.push((
                format!("model:{}", model.name),
                format!("clusters of {}", model.name),
            ));
        }
    }
    Ok(out)
}

async fn explore(runner: &dyn Runner, q: &ExplorerQuery) -> crate::Result<(String, Vec<Chart>)> {
    let choices = choices(runner).await?;
    let by = if q.by.is_empty() {
        "rfm"
    } else {
        q.by.as_str()
    };
    if !choices.iter().any(|(value, _)| value == by) {
        return Err(crate::Error::Usage(format!(
            "by={by}: not a segmentation of this lake (choose from the list)"
        )));
    }
    let segments = by
        .strip_prefix("set:")
        .or_else(|| by.strip_prefix("model:"))
        .map(str::to_string);
    let options = ReportOptions {
        segments,
        ..ReportOptions::default()
    };
    let cx = Context::new(runner, &options).await?;
    let mut body = String::from(
        "<form method=\"get\" action=\"/explorer\" id=\"explorer-form\">Segmentation <select name=\"by\" id=\"by\">",
    );
    for (value, label) in &choices {
        let selected = if value == by { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(value),
            esc(label)
        );
    }
    body.push_str("</select> ");
    let mut charts = Vec::new();
    if !cx.has("orders") {
        body.push_str("</form><p class=\"missing\">No `orders` table in the lake: segments are computed from orders.</p>");
        return Ok((body, charts));
    }
    let sizes_sql = format!(
        "WITH {}\nSELECT segment, count(*) AS customers FROM base GROUP BY segment ORDER BY customers DESC, segment",
        cx.base_cte()
    );
    let sizes = query(runner, &sizes_sql).await?;
    // A segment of another segmentation (the form keeps the last one) falls back to the largest.
    let chosen = if sizes.iter().any(|r| text(r, "segment") == q.segment) {
        q.segment.clone()
    } else {
        sizes
            .first()
            .map(|r| text(r, "segment"))
            .unwrap_or_default()
    };
    body.push_str("Segment <select name=\"segment\" id=\"segment\">");
    for row in &sizes {
        let name = text(row, "segment");
        let selected = if name == chosen { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(&name),
            esc(&name)
        );
    }
    body.push_str("</select> <button type=\"submit\">Show</button></form>");
    if sizes.is_empty() {
        body.push_str("<p class=\"missing\">No buying customers.</p>");
        return Ok((body, charts));
    }
    let total: f64 = sizes.iter().map(|r| num(r, "customers")).sum();
    charts.push(Chart {
        id: "explorer-sizes".into(),
        title: format!("Customers by segment ({})", cx.segments_label()),
        units: "customers".into(),
        reading: format!(
            "{} segments; the largest, {}, has {} of {} customers.",
            sizes.len(),
            text(&sizes[0], "segment"),
            num(&sizes[0], "customers"),
            total
        ),
        sql: sizes_sql,
        spec: chart::bars("segment", "segment", "customers", "customers"),
        rows: sizes,
    });
    let literal = format!("'{}'", chosen.replace('\'', "''"));
    let mut notes = Vec::new();
    match profile(runner, &cx, &chosen, &literal).await {
        Ok(chart) => charts.push(chart),
        Err(e) => notes.push(format!("Profile: {e}")),
    }
    if cx.has("order_items") {
        match products(runner, &cx, &chosen, &literal).await {
            Ok(chart) => charts.push(chart),
            Err(e) => notes.push(format!("Top products: {e}")),
        }
    } else {
        notes.push("Top products need an `order_items` table.".into());
    }
    match (cx.has(SNAPSHOTS), cx.segments.expr()) {
        (true, Some(expr)) => match trend(runner, &chosen, &literal, &expr).await {
            Ok(chart) => charts.push(chart),
            Err(e) => notes.push(format!("Trend: {e}")),
        },
        (false, _) => notes.push(format!(
            "Trend over snapshots needs {SNAPSHOTS}: run `microseg materialize --lake LAKE sql/jobs/daily_segments.toml --as-of DATE` on several dates."
        )),
        (true, None) => notes.push("Trend over snapshots follows segment sets and models only.".into()),
    }
    // Nothing to draw (for a reader: every group under the minimum) is a note, not an empty chart.
    let (charts, empty): (Vec<Chart>, Vec<Chart>) =
        charts.into_iter().partition(|c| !c.rows.is_empty());
    for chart in empty {
        notes.push(format!(
            "{}: no rows to show (a reader sees only groups of at least the minimum size).",
            chart.title
        ));
    }
    for chart in &charts {
        body.push_str(&crate::report::html::figure(chart));
    }
    for note in notes {
        let _ = write!(body, "<p class=\"missing\">{}</p>", esc(&note));
    }
    Ok((body, charts))
}

async fn profile(
    runner: &dyn Runner,
    cx: &Context,
    chosen: &str,
    literal: &str,
) -> crate::Result<Chart> {
    let metric = |name: &str, unit: &str| {
        format!(
            "SELECT '{name}' AS metric, '{unit}' AS unit, round(s.{name}, 2) AS segment_value, round(w.{name}, 2) AS base_value,\n\
             \x20      round(100.0 * s.{name} / w.{name}, 1) AS index FROM seg s CROSS JOIN whole w"
        )
    };
    let sql = format!(
        "WITH {},\n\
         seg AS (SELECT avg(recency_days) AS recency_days, avg(frequency) AS frequency, avg(monetary) AS monetary FROM base WHERE segment = {literal}),\n\
         whole AS (SELECT avg(recency_days) AS recency_days, avg(frequency) AS frequency, avg(monetary) AS monetary FROM base)\n\
         {}\nUNION ALL\n{}\nUNION ALL\n{}\nORDER BY metric",
        cx.base_cte(),
        metric("frequency", "orders"),
        metric("monetary", "EUR"),
        metric("recency_days", "days"),
    );
    let rows = query(runner, &sql).await?;
    let describe = rows
        .iter()
        .map(|r| format!("{} {}% of the base", text(r, "metric"), num(r, "index")))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Chart {
        id: "explorer-profile".into(),
        title: format!("Profile of {chosen} against the whole base (index, base = 100)"),
        units: "average of the segment as % of the average of all buyers".into(),
        reading: format!("Customers in {chosen}: {describe}."),
        sql,
        spec: json!({
            "layer": [
                {"mark": {"type": "bar", "tooltip": true}, "encoding": {
                    "y": {"field": "metric", "type": "nominal", "title": "measure"},
                    "x": {"field": "index", "type": "quantitative", "title": "index (base = 100)"}}},
                {"mark": {"type": "rule", "color": "gray", "strokeDash": [4, 4]},
                 "data": {"values": [{"base": 100}]},
                 "encoding": {"x": {"field": "base", "type": "quantitative"}}}
            ]
        }),
        rows,
    })
}

async fn products(
    runner: &dyn Runner,
    cx: &Context,
    chosen: &str,
    literal: &str,
) -> crate::Result<Chart> {
    let (name, join) = if cx.has("products") {
        (
            "coalesce(p.name, i.sku)",
            "LEFT JOIN products p ON p.sku = i.sku ",
        )
    } else {
        ("i.sku", "")
    };
    let sql = format!(
        "WITH {},\n\
         members AS (SELECT customer_id FROM base WHERE segment = {literal})\n\
         SELECT {name} AS product, round(sum(i.quantity * i.unit_price), 2) AS revenue, count(DISTINCT i.customer_id) AS buyers\n\
         FROM order_items i JOIN members m ON m.customer_id = i.customer_id {join}\n\
         GROUP BY 1 ORDER BY revenue DESC, product LIMIT 10",
        cx.base_cte()
    );
    let rows = query(runner, &sql).await?;
    let reading = match rows.first() {
        Some(top) => format!(
            "{} is what {chosen} spends most on: {} EUR from {} customers.",
            text(top, "product"),
            num(top, "revenue"),
            num(top, "buyers")
        ),
        None => format!("No item revenue from {chosen}."),
    };
    Ok(Chart {
        id: "explorer-products".into(),
        title: format!("Top products of {chosen} by revenue"),
        units: "EUR of item revenue (quantity × unit price), all history".into(),
        reading,
        sql,
        spec: chart::bars("product", "product", "revenue", "revenue (EUR)"),
        rows,
    })
}

async fn trend(
    runner: &dyn Runner,
    chosen: &str,
    literal: &str,
    expr: &str,
) -> crate::Result<Chart> {
    let sql = format!(
        "SELECT CAST(as_of AS VARCHAR) AS as_of, count(*) AS customers FROM {SNAPSHOTS}\n\
         WHERE {expr} = {literal} GROUP BY as_of ORDER BY as_of"
    );
    let rows = query(runner, &sql).await?;
    let reading = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) if rows.len() > 1 => format!(
            "{chosen} went from {} customers on {} to {} on {}.",
            num(a, "customers"),
            text(a, "as_of"),
            num(b, "customers"),
            text(b, "as_of")
        ),
        (Some(a), _) => format!(
            "One snapshot so far: {} customers on {}.",
            num(a, "customers"),
            text(a, "as_of")
        ),
        _ => format!("{chosen} is in none of the snapshots."),
    };
    Ok(Chart {
        id: "explorer-trend".into(),
        title: format!("{chosen} over the materialized snapshots ({SNAPSHOTS})"),
        units: "customers in the segment at each snapshot".into(),
        reading,
        sql,
        spec: json!({
            "mark": {"type": "line", "point": true, "tooltip": true},
            "encoding": {
                "x": {"field": "as_of", "type": "temporal", "title": "snapshot (as_of)"},
                "y": {"field": "customers", "type": "quantitative", "title": "customers"}
            }
        }),
        rows,
    })
}
