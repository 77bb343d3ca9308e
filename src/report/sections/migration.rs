//! Segment migration between the two latest materialized snapshots.

use super::{Context, query};
use crate::report::chart::{self, Chart, num, pct, text};
use crate::report::{Runner, Section};

/// The snapshot table `sql/jobs/daily_segments.toml` writes.
pub const SNAPSHOTS: &str = "segments.customer_segments";

/// The migration section.
pub async fn section(runner: &dyn Runner, cx: &Context) -> Section {
    let mut section = Section::new("migration", "Segment migration");
    let run_job = format!(
        "run the daily job for two dates, e.g. `microseg materialize --lake LAKE sql/jobs/daily_segments.toml --as-of {}` \
         and again with an earlier --as-of",
        cx.as_of.pred_opt().unwrap_or(cx.as_of)
    );
    if !cx.has(SNAPSHOTS) {
        section.missing.push(format!(
            "No snapshot table {SNAPSHOTS} in the lake: {run_job}."
        ));
        return section;
    }
    let dates_sql = format!(
        "SELECT CAST(as_of AS VARCHAR) AS as_of, count(*) AS customers FROM {SNAPSHOTS} WHERE as_of <= {} \
         GROUP BY as_of ORDER BY as_of DESC LIMIT 2",
        cx.day()
    );
    let dates = match query(runner, &dates_sql).await {
        Ok(rows) => rows.iter().map(|r| text(r, "as_of")).collect::<Vec<_>>(),
        Err(e) => {
            section
                .missing
                .push(format!("Snapshot dates could not be read: {e}"));
            return section;
        }
    };
    let [to, from] = dates.as_slice() else {
        section.missing.push(format!(
            "{SNAPSHOTS} has {} snapshot(s) up to {}; migration needs two: {run_job}.",
            dates.len(),
            cx.as_of
        ));
        return section;
    };
    section.push(flows(runner, from, to).await, "Migration");
    section
}

async fn flows(runner: &dyn Runner, from: &str, to: &str) -> crate::Result<Option<Chart>> {
    // The first segment column the table follows (segment_flows' default order).
    let columns = query(
        runner,
        &format!("SELECT DISTINCT segment_column FROM segment_flows('{SNAPSHOTS}', '{from}', '{to}') ORDER BY 1"),
    )
    .await?;
    let Some(column) = columns.first().map(|r| text(r, "segment_column")) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT coalesce(from_value, '(not in snapshot)') AS from_value,\n\
         \x20      coalesce(to_value, '(not in snapshot)') AS to_value, customers\n\
         FROM segment_flows('{SNAPSHOTS}', '{from}', '{to}', '{column}')\n\
         ORDER BY from_value, to_value"
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let total: f64 = rows.iter().map(|r| num(r, "customers")).sum();
    let moved: Vec<_> = rows
        .iter()
        .filter(|r| text(r, "from_value") != text(r, "to_value"))
        .collect();
    let moved_total: f64 = moved.iter().map(|r| num(r, "customers")).sum();
    let biggest = moved
        .iter()
        .max_by(|a, b| num(a, "customers").total_cmp(&num(b, "customers")))
        .map(|r| {
            format!(
                "; the largest move is {} → {} ({} customers)",
                text(r, "from_value"),
                text(r, "to_value"),
                num(r, "customers")
            )
        })
        .unwrap_or_default();
    let mut spec = chart::heatmap(
        ("to_value", &format!("{column} on {to}")),
        ("from_value", &format!("{column} on {from}")),
        ("customers", "customers"),
        "customers",
    );
    spec["height"] = serde_json::json!(320);
    Ok(Some(Chart {
        id: "migration".into(),
        title: format!("Segment migration ({column}) from {from} to {to}"),
        units: "customers per (from, to) pair; the diagonal stayed".into(),
        reading: format!(
            "Between {from} and {to}, {moved_total} customers ({}) changed {column}{biggest}.",
            pct(moved_total, total)
        ),
        sql,
        spec,
        rows,
    }))
}
