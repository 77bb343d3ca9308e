//! Models in SQL: k-means against scikit-learn, persona recovery on the
//! generated lake, the registry's versions, and every error path. This
//! module holds what the concerns share; each submodule is one concern.

mod als;
mod boosted;
mod classifier;
mod clv;
mod kmeans;
mod recommender;
mod registry;
mod relations;
mod uplift;

use std::collections::HashMap;
use std::path::Path;

use datafusion::arrow::array::AsArray;
use microseg::Engine;

use crate::support::run;

/// DESCRIBE MODEL as a map.
async fn describe(engine: &Engine, model: &str) -> HashMap<String, String> {
    let batches = run(engine, &format!("DESCRIBE MODEL '{model}'")).await;
    let mut out = HashMap::new();
    for b in &batches {
        let (k, v) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            out.insert(k.value(i).to_string(), v.value(i).to_string());
        }
    }
    out
}

const FEATURES: &str = "SELECT c.customer_id, r.recency_days, r.frequency, r.avg_amount,
       CAST(sum(CASE WHEN o.channel = 'app' THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS app_share,
       CAST(sum(CASE WHEN o.channel = 'store' THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS store_share,
       avg(extract(hour FROM o.order_ts)) AS mean_hour
FROM customers c
JOIN rfm(orders, customer_id, order_ts, amount) r USING (customer_id)
JOIN orders o USING (customer_id)
GROUP BY c.customer_id, r.recency_days, r.frequency, r.avg_amount";

/// What a persona is planted as: basket mix, channel, time of day, order
/// rate and size (sql/README.md, "Planted behaviour").
const PERSONA_FEATURES: &str = "WITH basket AS (
  SELECT customer_id,
    sum(CASE WHEN category = 'beverages' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS bev,
    sum(CASE WHEN category = 'electronics' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS ele,
    sum(CASE WHEN category = 'baby' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS baby,
    sum(CASE WHEN category = 'grocery' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS gro,
    sum(CASE WHEN category = 'fashion' THEN quantity * unit_price ELSE 0 END) / sum(quantity * unit_price) AS fas
  FROM order_items GROUP BY customer_id
), habits AS (
  SELECT customer_id,
    avg(CASE WHEN channel = 'app' THEN 1.0 ELSE 0.0 END) AS app,
    avg(CASE WHEN channel = 'store' THEN 1.0 ELSE 0.0 END) AS store,
    avg(extract(hour FROM order_ts)) AS hour,
    ln(count(*)) AS log_orders,
    ln(avg(amount)) AS log_amount
  FROM orders GROUP BY customer_id
)
SELECT * FROM basket JOIN habits USING (customer_id)";

/// Creates the view `features` over FEATURES and writes its `columns`, in
/// customer order, to `csv` (the rows the scikit-learn references read).
async fn export_features(engine: &Engine, columns: &str, csv: &Path) {
    run(engine, &format!("CREATE VIEW features AS {FEATURES}")).await;
    run(
        engine,
        &format!(
            "COPY (SELECT {columns} FROM features ORDER BY customer_id) TO '{}' STORED AS CSV",
            csv.display()
        ),
    )
    .await;
}

fn rel_close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1e-9)
}
