//! k-means cluster profiles: standardized centroids and cluster sizes.

use serde_json::json;

use super::{Context, Model, query, quoted};
use crate::report::chart::{self, Chart, num, pct, text};
use crate::report::{Runner, Section};

/// What to run when the lake has no k-means model.
pub const TRAIN_KMEANS: &str = "CREATE MODEL clusters OPTIONS (model_type 'kmeans', num_clusters 8, seed 42) \
     AS SELECT recency_days, frequency, monetary FROM rfm(orders, customer_id, order_ts, amount);";

/// The clusters section: one heatmap and one size chart per k-means model.
pub async fn section(runner: &dyn Runner, cx: &Context) -> Section {
    let mut section = Section::new("clusters", "Cluster profiles");
    let kmeans: Vec<&Model> = cx
        .models
        .iter()
        .filter(|m| m.model_type == "kmeans")
        .collect();
    if kmeans.is_empty() {
        section.missing.push(format!(
            "No k-means model in the lake. Train one (with `microseg sql`): {TRAIN_KMEANS}"
        ));
    }
    for model in kmeans {
        section.push(
            profile(runner, model).await,
            &format!("Centroids of {}", model.name),
        );
        section.push(
            sizes(runner, model).await,
            &format!("Cluster sizes of {}", model.name),
        );
    }
    section
}

async fn profile(runner: &dyn Runner, model: &Model) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "SELECT centroid_id, feature, value,\n\
         \x20      round((value - avg(value) OVER (PARTITION BY feature)) / nullif(stddev_pop(value) OVER (PARTITION BY feature), 0), 3) AS z\n\
         FROM model_centroids({}) ORDER BY centroid_id, feature",
        quoted(&model.name)
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let extreme = rows
        .iter()
        .max_by(|a, b| num(a, "z").abs().total_cmp(&num(b, "z").abs()))
        .unwrap_or(&rows[0]);
    let mut spec = chart::heatmap(
        ("feature", "feature"),
        ("centroid_id", "cluster"),
        ("z", "standardized value"),
        "label",
    );
    spec["transform"] = json!([{"calculate": "format(datum.value, '.3~s')", "as": "label"}]);
    spec["layer"][0]["encoding"]["color"]["scale"] =
        json!({"scheme": "redblue", "domainMid": 0, "reverse": true});
    Ok(Some(Chart {
        id: format!("centroids-{}", model.name),
        title: format!("Cluster profiles of {} (centroids, standardized per feature)", model.name),
        units: "colour: standard deviations from the mean centroid of each feature; numbers: centroid in original units".into(),
        reading: format!(
            "Cluster {} stands out most: its {} is {:.1} standard deviations from the clusters' mean.",
            text(extreme, "centroid_id"),
            text(extreme, "feature"),
            num(extreme, "z")
        ),
        sql,
        spec,
        rows,
    }))
}

async fn sizes(runner: &dyn Runner, model: &Model) -> crate::Result<Option<Chart>> {
    let sql = format!(
        "SELECT DISTINCT CAST(centroid_id AS VARCHAR) AS cluster, size AS customers\n\
         FROM model_centroids({}) ORDER BY customers DESC",
        quoted(&model.name)
    );
    let rows = query(runner, &sql).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let total: f64 = rows.iter().map(|r| num(r, "customers")).sum();
    Ok(Some(Chart {
        id: format!("cluster-sizes-{}", model.name),
        title: format!(
            "Cluster sizes of {} (training rows per cluster)",
            model.name
        ),
        units: "training rows (customers)".into(),
        reading: format!(
            "The largest cluster, {}, holds {} of the {} training rows.",
            text(&rows[0], "cluster"),
            pct(num(&rows[0], "customers"), total),
            total
        ),
        sql,
        spec: chart::bars("cluster", "cluster", "customers", "training rows"),
        rows,
    }))
}
