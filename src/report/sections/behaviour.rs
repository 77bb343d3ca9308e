//! The purchase funnel by channel and weekly retention cohorts.

use serde_json::json;

use super::{Context, query};
use crate::report::chart::{self, Chart, num, text};
use crate::report::{Runner, Section};

/// The behaviour section.
pub async fn section(runner: &dyn Runner, cx: &Context) -> Section {
    let mut section = Section::new("behaviour", "Funnel and retention");
    if cx.has("events") {
        section.push(funnel(runner, cx).await, "Funnel");
    } else {
        section.missing.push(
            "No `events` table (customer_id, channel, event_type, event_ts) in the lake: the funnel needs web/app events."
                .into(),
        );
    }
    if cx.has("orders") {
        section.push(retention(runner, cx).await, "Retention cohorts");
    } else {
        section
            .missing
            .push("No `orders` table in the lake: retention cohorts need orders.".into());
    }
    section
}

async fn funnel(runner: &dyn Runner, cx: &Context) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "WITH levels AS (\n\
         \x20 SELECT customer_id, channel,\n\
         \x20        window_funnel(INTERVAL '1 hour', event_ts, event_type = 'product_view', event_type = 'add_to_cart',\n\
         \x20                      event_type = 'checkout_start', event_type = 'purchase') AS level\n\
         \x20 FROM events\n\
         \x20 WHERE event_type IN ('product_view', 'add_to_cart', 'checkout_start', 'purchase')\n\
         \x20   AND event_ts >= {day} - INTERVAL '90 days' AND event_ts < {day}\n\
         \x20 GROUP BY customer_id, channel),\n\
         steps AS (SELECT * FROM (VALUES (1, '1 product view'), (2, '2 add to cart'), (3, '3 checkout'), (4, '4 purchase')) AS s(step_no, step_name))\n\
         SELECT l.channel, s.step_name AS step, count(*) AS customers,\n\
         \x20      round(100.0 * count(*) / max(count(*)) OVER (PARTITION BY l.channel), 1) AS pct_of_viewers\n\
         FROM levels l JOIN steps s ON l.level >= s.step_no\n\
         WHERE l.channel IN ('web', 'app')\n\
         GROUP BY l.channel, s.step_no, s.step_name ORDER BY l.channel, s.step_no",
        day = cx.midnight()
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let reading = rows
        .iter()
        .filter(|r| text(r, "step").starts_with('4'))
        .map(|r| {
            format!(
                "{}% of {} viewers",
                num(r, "pct_of_viewers"),
                text(r, "channel")
            )
        })
        .collect::<Vec<_>>()
        .join(" and ");
    Ok(Some(Chart {
        id: "funnel".into(),
        title: "Purchase funnel by channel, last 90 days (each step within an hour of the view)"
            .into(),
        units: "customers reaching each step".into(),
        reading: format!("{reading} bought within an hour of viewing a product."),
        sql,
        spec: chart::grouped_bars("step", "funnel step", "customers", "customers", "channel"),
        rows,
    }))
}

async fn retention(runner: &dyn Runner, cx: &Context) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "WITH o AS (SELECT customer_id, order_ts FROM orders WHERE status <> 'cancelled' AND order_ts < {day}),\n\
         first AS (SELECT customer_id, date_trunc('week', min(order_ts)) AS cohort_week FROM o GROUP BY customer_id),\n\
         recent AS (SELECT * FROM first WHERE cohort_week >= {day} - INTERVAL '84 days'),\n\
         activity AS (SELECT DISTINCT o.customer_id, f.cohort_week,\n\
         \x20                   CAST(round((date_part('epoch', date_trunc('week', o.order_ts)) - date_part('epoch', f.cohort_week)) / 604800) AS BIGINT) AS weeks_after\n\
         \x20            FROM o JOIN recent f ON f.customer_id = o.customer_id),\n\
         sizes AS (SELECT cohort_week, count(*) AS cohort_customers FROM recent GROUP BY cohort_week)\n\
         SELECT CAST(CAST(a.cohort_week AS DATE) AS VARCHAR) AS cohort_week, a.weeks_after, count(*) AS active_customers,\n\
         \x20      s.cohort_customers, round(100.0 * count(*) / s.cohort_customers, 1) AS retained_pct\n\
         FROM activity a JOIN sizes s ON s.cohort_week = a.cohort_week\n\
         GROUP BY a.cohort_week, a.weeks_after, s.cohort_customers ORDER BY 1, 2",
        day = cx.midnight()
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let week1: Vec<f64> = rows
        .iter()
        .filter(|r| num(r, "weeks_after") == 1.0)
        .map(|r| num(r, "retained_pct"))
        .collect();
    let mean = week1.iter().sum::<f64>() / week1.len().max(1) as f64;
    let mut spec = chart::heatmap(
        ("weeks_after", "weeks after the first order"),
        ("cohort_week", "cohort (week of first order)"),
        ("retained_pct", "% of cohort ordering"),
        "label",
    );
    spec["transform"] = json!([{"calculate": "datum.retained_pct + '%'", "as": "label"}]);
    Ok(Some(Chart {
        id: "retention".into(),
        title: "Weekly retention of new customers (cohorts of the last 12 weeks)".into(),
        units: "% of each cohort's customers ordering again in that week".into(),
        reading: format!(
            "On average {mean:.1}% of a week's new customers order again the following week."
        ),
        sql,
        spec,
        rows,
    }))
}
