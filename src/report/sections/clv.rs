//! Customer lifetime value: its distribution and its expected value by
//! segment, from a BG/NBD and a Gamma-Gamma model of the lake.

use super::{Context, Model, query, quoted};
use crate::report::chart::{self, Chart, num, pct, text};
use crate::report::{Runner, Section};

/// The CLV section.
pub async fn section(runner: &dyn Runner, cx: &Context) -> Section {
    let mut section = Section::new("clv", "Customer lifetime value");
    let last = |kind: &str| cx.models.iter().rev().find(|m| m.model_type == kind);
    let (Some(purchases), Some(spend)) = (last("bgnbd"), last("gamma_gamma")) else {
        let summary = format!(
            "clv_summary(orders, customer_id, order_ts, amount, {})",
            cx.day()
        );
        section.missing.push(format!(
            "CLV needs a BG/NBD and a Gamma-Gamma model in the lake. Train them (with `microseg sql`): \
             CREATE MODEL purchases OPTIONS (model_type 'bgnbd') AS SELECT frequency, recency, T FROM {summary}; \
             CREATE MODEL spend OPTIONS (model_type 'gamma_gamma') AS SELECT frequency, monetary_value FROM {summary} \
             WHERE frequency > 0 AND monetary_value > 0;"
        ));
        return section;
    };
    if !cx.has("orders") {
        section
            .missing
            .push("No `orders` table in the lake.".into());
        return section;
    }
    let values = values_cte(cx, purchases, spend);
    section.push(distribution(runner, &values).await, "CLV distribution");
    section.push(by_segment(runner, cx, &values).await, "CLV by segment");
    section
}

/// `v AS (…)`: each customer's 12-month CLV (1 %/month discount).
fn values_cte(cx: &Context, purchases: &Model, spend: &Model) -> String {
    format!(
        "v AS (SELECT customer_id, clv({}, {}, frequency, recency, T, monetary_value, 12, 0.01) AS clv\n\
         \x20     FROM clv_summary(orders, customer_id, order_ts, amount, {}))",
        quoted(&purchases.name),
        quoted(&spend.name),
        cx.day()
    )
}

async fn distribution(runner: &dyn Runner, values: &str) -> crate::Result<Option<Chart>> {
    // 20 bins up to the 99th percentile; the last bin takes the tail.
    let sql = format!(
        "WITH {values},\n\
         w AS (SELECT greatest(approx_percentile_cont(clv, 0.99) / 20, 0.01) AS width FROM v)\n\
         SELECT round(floor(least(clv, 19.5 * width) / width) * width, 2) AS clv_from,\n\
         \x20      round((floor(least(clv, 19.5 * width) / width) + 1) * width, 2) AS clv_to,\n\
         \x20      count(*) AS customers\n\
         FROM v CROSS JOIN w GROUP BY 1, 2 ORDER BY 1"
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let total: f64 = rows.iter().map(|r| num(r, "customers")).sum();
    let first = &rows[0];
    Ok(Some(Chart {
        id: "clv-distribution".into(),
        title: "Distribution of 12-month customer lifetime value".into(),
        units: "customers per CLV band; EUR (last band: the top 1% and above)".into(),
        reading: format!(
            "{} of customers are expected to bring less than {} EUR in the next 12 months.",
            pct(num(first, "customers"), total),
            num(first, "clv_to")
        ),
        sql,
        spec: serde_json::json!({
            "mark": {"type": "bar", "tooltip": true},
            "encoding": {
                "x": {"field": "clv_from", "type": "quantitative", "bin": {"binned": true}, "title": "12-month CLV (EUR)"},
                "x2": {"field": "clv_to"},
                "y": {"field": "customers", "type": "quantitative", "title": "customers"}
            }
        }),
        rows,
    }))
}

async fn by_segment(
    runner: &dyn Runner,
    cx: &Context,
    values: &str,
) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "WITH {}, {values}\n\
         SELECT b.segment, count(*) AS customers, round(avg(v.clv), 2) AS avg_clv, round(sum(v.clv), 2) AS total_clv\n\
         FROM base b JOIN v ON v.customer_id = b.customer_id GROUP BY b.segment ORDER BY avg_clv DESC",
        cx.base_cte()
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        id: "clv-by-segment".into(),
        title: "Expected 12-month value per customer, by segment".into(),
        units: "EUR per customer (average CLV)".into(),
        reading: format!(
            "A customer in {} is worth {} EUR on average over the next 12 months, the most of any segment.",
            text(&rows[0], "segment"),
            num(&rows[0], "avg_clv")
        ),
        sql,
        spec: chart::bars(
            "segment",
            "segment",
            "avg_clv",
            "average 12-month CLV (EUR)",
        ),
        rows,
    }))
}
