-- microseg demo: a short tour of a customer lake.
-- `microseg demo` runs this file; each statement's comment is its heading.

-- What the lake holds: every folder of Parquet files is a table (sizes from the Parquet footers).
SHOW LAKE;

-- Customers and orders by acquisition channel.
SELECT c.acquisition_channel,
       count(DISTINCT c.customer_id) AS customers,
       count(o.order_id) AS orders,
       round(sum(o.amount) / count(DISTINCT c.customer_id), 2) AS revenue_per_customer
FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id AND o.status = 'completed'
GROUP BY c.acquisition_channel
ORDER BY revenue_per_customer DESC;

-- RFM in one call: rfm() gives one row per customer (recency, tenure, frequency, monetary, r/f/m scores, code, segment).
CREATE VIEW completed_orders AS SELECT * FROM orders WHERE status = 'completed';

CREATE VIEW customer_rfm AS SELECT * FROM rfm(completed_orders, customer_id, order_ts, amount);

-- Revenue concentration: the share of revenue held by the top 5% of customers.
SELECT round(100.0 * sum(CASE WHEN rank_pct <= 0.05 THEN monetary END) / sum(monetary), 1) AS top5_pct_revenue_share,
       count(*) AS buying_customers
FROM (SELECT monetary, percent_rank() OVER (ORDER BY monetary DESC) AS rank_pct FROM customer_rfm);

-- RFM segments: size, average spend and share of revenue of each cell of the standard R-F map.
SELECT segment,
       count(*) AS customers,
       round(avg(monetary), 2) AS avg_monetary,
       round(100.0 * sum(monetary) / sum(sum(monetary)) OVER (), 1) AS pct_revenue
FROM customer_rfm
GROUP BY segment
ORDER BY pct_revenue DESC;

-- The most common RFM codes: r, f and m packed as text, e.g. '545'.
SELECT rfm_code, count(*) AS customers FROM customer_rfm GROUP BY 1 ORDER BY customers DESC, rfm_code LIMIT 5;

-- A segment set (sql/segments/lifecycle.sql, stored in the lake): segment_of takes the first matching rule.
SELECT segment_of('lifecycle') AS lifecycle,
       count(*) AS customers,
       round(avg(recency_days)) AS avg_recency_days,
       round(100.0 * sum(monetary) / sum(sum(monetary)) OVER (), 1) AS pct_revenue
FROM customer_rfm
GROUP BY 1
ORDER BY customers DESC;

-- Two segment sets crossed: value tiers (top 1/5/20% by spend) by lifecycle stage.
SELECT tier, lifecycle, count(*) AS customers
FROM (SELECT segment_of('value_tiers') AS tier, segment_of('lifecycle') AS lifecycle FROM customer_rfm)
WHERE tier <> 'rest'
GROUP BY 1, 2
ORDER BY 1, customers DESC;

-- Micro-segments: city x acquisition channel x RFM segment, backing off to coarser cells so no label covers fewer than 50 customers.
SELECT cell, count(*) AS customers
FROM (SELECT micro_segment(50, c.city, c.acquisition_channel, r.segment) OVER () AS cell
      FROM customer_rfm r JOIN customers c USING (customer_id))
GROUP BY cell
ORDER BY customers DESC
LIMIT 10;

CREATE VIEW beer_lines AS SELECT customer_id, subcategory, quantity * unit_price AS revenue FROM order_items WHERE subcategory IN ('lager', 'craft_beer', 'regional_beer', 'cider');

-- Beer sub-segments: beer buyers split by the beer they over-index on (top_affinity: highest lift with at least 20% of their beer spend).
SELECT subcategory AS beer_affinity, count(*) AS customers, round(avg(share), 2) AS avg_share, round(avg(lift), 2) AS avg_lift
FROM top_affinity(beer_lines, customer_id, subcategory, revenue)
GROUP BY 1
ORDER BY customers DESC;

-- k-means micro-clusters: a model trained on the RFM features, stored in the lake (DROP first so the demo does not pile up versions).
DROP MODEL IF EXISTS demo_clusters;

CREATE MODEL demo_clusters OPTIONS (model_type 'kmeans', num_clusters 8, seed 42, n_init 2)
AS SELECT recency_days, frequency, monetary FROM customer_rfm;

-- Cluster profiles: each centroid in original units (model_centroids), largest clusters first.
SELECT centroid_id AS cluster, size AS customers,
       round(max(CASE WHEN feature = 'recency_days' THEN value END), 1) AS recency_days,
       round(max(CASE WHEN feature = 'frequency' THEN value END), 1) AS frequency,
       round(max(CASE WHEN feature = 'monetary' THEN value END), 2) AS monetary
FROM model_centroids('demo_clusters')
GROUP BY centroid_id, size
ORDER BY customers DESC;

-- Applying the model (cluster_assign, cluster_distance): share of revenue and typical distance to the centroid per cluster.
SELECT cluster_assign('demo_clusters', recency_days, frequency, monetary) AS cluster,
       count(*) AS customers,
       round(100.0 * sum(monetary) / sum(sum(monetary)) OVER (), 1) AS pct_revenue,
       round(median(cluster_distance('demo_clusters', recency_days, frequency, monetary)), 3) AS median_distance
FROM customer_rfm
GROUP BY 1
ORDER BY pct_revenue DESC;

CREATE VIEW champions AS SELECT recency_days, frequency, monetary FROM customer_rfm WHERE segment = 'champions';

CREATE VIEW non_champions AS SELECT customer_id, recency_days, frequency, monetary FROM customer_rfm WHERE segment <> 'champions';

-- Lookalikes: the 10 customers outside the champions nearest to the champions' average profile, in the model's standardized space (lookalike over two views: the seeds, then the candidates with their id first).
SELECT * FROM lookalike('demo_clusters', champions, non_champions, 10);

-- How each sales channel is used, by part of the day.
SELECT channel,
       sum(CASE WHEN extract(hour FROM order_ts) BETWEEN 5 AND 11 THEN 1 ELSE 0 END) AS morning,
       sum(CASE WHEN extract(hour FROM order_ts) BETWEEN 12 AND 17 THEN 1 ELSE 0 END) AS afternoon,
       sum(CASE WHEN extract(hour FROM order_ts) BETWEEN 18 AND 22 THEN 1 ELSE 0 END) AS evening,
       sum(CASE WHEN extract(hour FROM order_ts) >= 23 OR extract(hour FROM order_ts) < 5 THEN 1 ELSE 0 END) AS night
FROM orders
GROUP BY channel
ORDER BY channel;

-- Category mix: share of item revenue by category.
SELECT i.category,
       round(100.0 * sum(i.quantity * i.unit_price) / sum(sum(i.quantity * i.unit_price)) OVER (), 1) AS pct_all
FROM order_items i
GROUP BY i.category
ORDER BY pct_all DESC;

-- Funnel by channel, last 90 days: customers who viewed a product, then put one in the cart, started checkout and bought, each within an hour of the view (window_funnel).
SELECT channel,
       sum(CASE WHEN level >= 1 THEN 1 ELSE 0 END) AS viewed,
       sum(CASE WHEN level >= 2 THEN 1 ELSE 0 END) AS added_to_cart,
       sum(CASE WHEN level >= 3 THEN 1 ELSE 0 END) AS started_checkout,
       sum(CASE WHEN level >= 4 THEN 1 ELSE 0 END) AS purchased,
       round(100.0 * sum(CASE WHEN level >= 4 THEN 1 ELSE 0 END) / sum(CASE WHEN level >= 1 THEN 1 ELSE 0 END), 1) AS view_to_purchase_pct
FROM (SELECT customer_id, channel,
             window_funnel(INTERVAL '1 hour', event_ts,
                           event_type = 'product_view', event_type = 'add_to_cart',
                           event_type = 'checkout_start', event_type = 'purchase') AS level
      FROM events
      WHERE channel IN ('web', 'app')
        AND event_type IN ('product_view', 'add_to_cart', 'checkout_start', 'purchase')
        AND event_ts >= (SELECT max(event_ts) FROM events) - INTERVAL '90 days'
      GROUP BY customer_id, channel)
GROUP BY channel
ORDER BY channel;

-- Weekly retention: of the customers who ordered in the first of the last 8 weeks, the share ordering again in each later week (retention).
SELECT count(*) AS cohort,
       round(100.0 * avg(CASE WHEN r[2] THEN 1 ELSE 0 END), 1) AS week_1_pct,
       round(100.0 * avg(CASE WHEN r[3] THEN 1 ELSE 0 END), 1) AS week_2_pct,
       round(100.0 * avg(CASE WHEN r[4] THEN 1 ELSE 0 END), 1) AS week_3_pct,
       round(100.0 * avg(CASE WHEN r[5] THEN 1 ELSE 0 END), 1) AS week_4_pct,
       round(100.0 * avg(CASE WHEN r[6] THEN 1 ELSE 0 END), 1) AS week_5_pct,
       round(100.0 * avg(CASE WHEN r[7] THEN 1 ELSE 0 END), 1) AS week_6_pct,
       round(100.0 * avg(CASE WHEN r[8] THEN 1 ELSE 0 END), 1) AS week_7_pct
FROM (SELECT customer_id,
             retention(week = 0, week = 1, week = 2, week = 3, week = 4, week = 5, week = 6, week = 7) AS r
      FROM (SELECT customer_id,
                   floor((date_part('epoch', order_ts) - date_part('epoch', (SELECT max(order_ts) FROM orders))) / 604800.0) + 8 AS week
            FROM orders
            WHERE status <> 'cancelled'
              AND order_ts > (SELECT max(order_ts) FROM orders) - INTERVAL '56 days')
      GROUP BY customer_id)
WHERE r[1];

-- Ready triggers (sql/triggers/, loaded by the demo): customers to contact now, by trigger.
SELECT 'abandoned_cart' AS trigger, count(*) AS customers FROM trigger_abandoned_cart
UNION ALL SELECT 'browse_abandonment', count(DISTINCT customer_id) FROM trigger_browse_abandonment
UNION ALL SELECT 'slipping', count(*) FROM trigger_slipping
UNION ALL SELECT 'life_events (last 30 days)', count(DISTINCT customer_id) FROM trigger_life_events WHERE days_ago < 30
UNION ALL SELECT 'near_store_now', count(*) FROM trigger_near_store_now
UNION ALL SELECT 'unhappy', count(*) FROM trigger_unhappy
ORDER BY trigger;

-- Campaign lift by RFM segment (sql/experiments/lift_by_segment.sql): treatment vs randomised holdout, with a two-proportion z-test (prop_test).
SELECT segment, treatment_sends, holdout_sends, treatment_rate, holdout_rate, uplift_pts, lift,
       round(p_value, 6) AS p_value, significant, incremental_revenue
FROM lift_by_segment
ORDER BY segment = '(all)' DESC, incremental_revenue DESC;

-- Customer lifetime value: a BG/NBD model of purchases and a Gamma-Gamma model of spend, trained on each customer's history (clv_summary) and stored in the lake (DROP first, as above).
DROP MODEL IF EXISTS demo_purchases;

DROP MODEL IF EXISTS demo_spend;

CREATE MODEL demo_purchases OPTIONS (model_type 'bgnbd')
AS SELECT frequency, recency, T FROM clv_summary(completed_orders, customer_id, order_ts, amount, DATE '2026-11-01');

CREATE MODEL demo_spend OPTIONS (model_type 'gamma_gamma')
AS SELECT frequency, monetary_value FROM clv_summary(completed_orders, customer_id, order_ts, amount, DATE '2026-11-01')
WHERE frequency > 0 AND monetary_value > 0;

-- Expected value of the next 12 months per customer (clv, 1% discount a month), by RFM segment.
SELECT r.segment,
       count(*) AS customers,
       round(avg(clv('demo_purchases', 'demo_spend', s.frequency, s.recency, s.T, s.monetary_value, 12, 0.01)), 2) AS avg_clv_12m
FROM clv_summary(completed_orders, customer_id, order_ts, amount, DATE '2026-11-01') s
JOIN customer_rfm r ON r.customer_id = s.customer_id
GROUP BY r.segment
ORDER BY avg_clv_12m DESC;

-- Resolved identities (sql/jobs/unified_customers.toml, run by the demo first): profiles segmented by how many sources know them, with how many of each can be reached by e-mail and by phone.
SELECT cardinality(string_to_array(sources, ', ')) AS sources_known,
       count(*) AS profiles,
       count(email) AS with_email,
       count(phone) AS with_phone,
       round(avg(record_count), 2) AS avg_records
FROM identity.unified_customers
GROUP BY sources_known
ORDER BY sources_known;
