//! Segment sizes and revenue shares; the RFM R–F grid.

use serde_json::json;

use super::{Context, query};
use crate::report::chart::{self, Chart, num, pct, text};
use crate::report::{Runner, Section};

/// The segments section.
pub async fn section(runner: &dyn Runner, cx: &Context) -> Section {
    let mut section = Section::new("segments", "Segments");
    if !cx.has("orders") {
        section.missing.push(
            "No `orders` table in the lake: segments are computed from orders (customer_id, order_ts, amount). \
             Run `microseg generate --out LAKE` for a synthetic lake, or add an orders folder of Parquet files."
                .into(),
        );
        return section;
    }
    let sql = format!(
        "WITH {}\n\
         SELECT segment, count(*) AS customers, round(sum(monetary), 2) AS revenue,\n\
         \x20      round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS customer_share_pct,\n\
         \x20      round(100.0 * sum(monetary) / sum(sum(monetary)) OVER (), 2) AS revenue_share_pct\n\
         FROM base GROUP BY segment ORDER BY customers DESC, segment",
        cx.base_cte()
    );
    match query(runner, &sql).await {
        Ok(rows) if !rows.is_empty() => {
            let total: f64 = rows.iter().map(|r| num(r, "customers")).sum();
            let largest = &rows[0];
            let richest = rows
                .iter()
                .max_by(|a, b| num(a, "revenue").total_cmp(&num(b, "revenue")))
                .unwrap_or(largest);
            section.charts.push(Chart {
                id: "segment-sizes".into(),
                title: format!("Customers by segment ({})", cx.segments_label()),
                units: "customers (buyers before the as-of day)".into(),
                reading: format!(
                    "The largest segment is {} with {} of {} customers ({}).",
                    text(largest, "segment"),
                    num(largest, "customers"),
                    total,
                    pct(num(largest, "customers"), total)
                ),
                sql: sql.clone(),
                spec: chart::bars("segment", "segment", "customers", "customers"),
                rows: rows.clone(),
            });
            section.charts.push(Chart {
                id: "segment-revenue".into(),
                title: "Share of customers and of revenue by segment".into(),
                units: "% of all buyers; % of their revenue (EUR)".into(),
                reading: format!(
                    "{} holds {}% of revenue with {}% of customers.",
                    text(richest, "segment"),
                    num(richest, "revenue_share_pct"),
                    num(richest, "customer_share_pct")
                ),
                sql,
                spec: json!({
                    "transform": [{"fold": ["customer_share_pct", "revenue_share_pct"], "as": ["measure", "pct"]}],
                    "mark": {"type": "bar", "tooltip": true},
                    "encoding": {
                        "y": {"field": "segment", "type": "nominal", "title": "segment"},
                        "yOffset": {"field": "measure"},
                        "x": {"field": "pct", "type": "quantitative", "title": "% of total"},
                        "color": {"field": "measure", "type": "nominal", "title": null}
                    }
                }),
                rows,
            });
        }
        other => section.push(other.map(|_| None), "Segment sizes"),
    }
    section.push(grid(runner, cx).await, "RFM grid");
    section
}

async fn grid(runner: &dyn Runner, cx: &Context) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "WITH {}\n\
         SELECT r, f, count(*) AS customers, round(sum(monetary), 2) AS revenue\n\
         FROM base GROUP BY r, f ORDER BY r, f",
        cx.base_cte()
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let total: f64 = rows.iter().map(|r| num(r, "revenue")).sum();
    let top = rows
        .iter()
        .find(|r| num(r, "r") == 5.0 && num(r, "f") == 5.0)
        .map(|r| (num(r, "customers"), num(r, "revenue")))
        .unwrap_or((0.0, 0.0));
    let mut spec = chart::heatmap(
        ("f", "frequency score f (5 = most orders)"),
        ("r", "recency score r (5 = most recent)"),
        ("customers", "customers"),
        "label",
    );
    spec["transform"] = json!([{"calculate": "datum.customers + ' · ' + format(datum.revenue, '.3s')", "as": "label"}]);
    spec["encoding"]["y"]["sort"] = json!("descending");
    spec["height"] = json!(300);
    Ok(Some(Chart {
        id: "rfm-grid".into(),
        title: "RFM grid: customers and revenue per recency × frequency cell".into(),
        units: "customers (colour, first number); revenue in EUR (second number)".into(),
        reading: format!(
            "The best cell (r = 5, f = 5) holds {} customers and {} of revenue.",
            top.0,
            pct(top.1, total)
        ),
        sql,
        spec,
        rows,
    }))
}
