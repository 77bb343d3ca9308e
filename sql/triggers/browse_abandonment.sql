-- Trigger: browse abandonment.
--
-- Business meaning: customers who keep looking at one category (at least
-- `min_views` product views in it within the last `lookback`) but have not
-- bought anything from that category since they started looking: interest
-- without a purchase, worth a "still looking for …?" message with products
-- of that category. Buying in another category does not cancel it; buying
-- in the same category does. A customer interested in two categories gets
-- two rows.
--
-- Parameters (the constants in `params`; edit them there):
--   min_views  3                  product_view events in one category
--   lookback   INTERVAL '7 days'  the week the views must fall in
--   now        the latest event_ts in the lake (historical); on live data use now()
--
-- Output, one row per (customer, category):
--   customer_id, category
--   n_views          product views of the category in the lookback
--   n_products       distinct SKUs viewed
--   first_view_ts, last_view_ts
CREATE OR REPLACE VIEW trigger_browse_abandonment AS
WITH params AS (
  SELECT 3 AS min_views,
         INTERVAL '7 days' AS lookback,
         (SELECT max(event_ts) FROM events) AS now
),
views AS (
  SELECT e.customer_id, e.category,
         count(*) AS n_views,
         count(DISTINCT e.sku) AS n_products,
         min(e.event_ts) AS first_view_ts,
         max(e.event_ts) AS last_view_ts
  FROM events e CROSS JOIN params p
  WHERE e.event_type = 'product_view'
    AND e.category IS NOT NULL
    AND e.event_ts >= p.now - p.lookback
    AND e.event_ts <= p.now
  GROUP BY e.customer_id, e.category
),
bought AS (
  SELECT i.customer_id, i.category, max(o.order_ts) AS last_order_ts
  FROM order_items i
  JOIN orders o ON o.order_id = i.order_id AND o.order_month = i.order_month
  CROSS JOIN params p
  WHERE o.order_ts >= p.now - p.lookback
  GROUP BY i.customer_id, i.category
)
SELECT v.customer_id, v.category, v.n_views, v.n_products, v.first_view_ts, v.last_view_ts
FROM views v
CROSS JOIN params p
LEFT JOIN bought b ON b.customer_id = v.customer_id AND b.category = v.category
WHERE v.n_views >= p.min_views
  AND (b.last_order_ts IS NULL OR b.last_order_ts < v.first_view_ts);
