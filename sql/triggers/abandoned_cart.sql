-- Trigger: abandoned cart.
--
-- Business meaning: customers who put products in their cart and then did
-- not buy within `wait` hours: the moment for a cart reminder. A cart only
-- counts once it is `wait` old, so someone still shopping is not nagged, and
-- any purchase after the cart (within the wait or later) cancels it: the
-- customer came back by themselves. Products taken out of the cart again
-- (`remove_from_cart` of the same SKU later on) are not listed.
--
-- Parameters (the constants in `params`; edit them there):
--   wait      INTERVAL '24 hours'  no purchase for this long after adding to cart = abandoned
--   lookback  INTERVAL '7 days'    carts older than this are stale and left out
--   now       the latest event_ts in the lake, because the lake is
--             historical; on live data use now() instead
--
-- Output, one row per customer:
--   customer_id
--   first_cart_ts, last_cart_ts  the first and last abandoned add_to_cart in the lookback
--   hours_since_cart             hours from last_cart_ts to now
--   items                        the abandoned SKUs (list, distinct)
--   item_names                   their product names (list, same order as items)
--   categories                   their categories (list, distinct)
--   cart_value                   sum of the list prices of the abandoned SKUs (EUR)
CREATE OR REPLACE VIEW trigger_abandoned_cart AS
WITH params AS (
  SELECT INTERVAL '24 hours' AS wait,
         INTERVAL '7 days' AS lookback,
         (SELECT max(event_ts) FROM events) AS now
),
recent AS (
  SELECT e.customer_id, e.event_ts, e.event_type, e.sku
  FROM events e CROSS JOIN params p
  WHERE e.event_ts >= p.now - p.lookback
    AND e.event_type IN ('add_to_cart', 'remove_from_cart', 'purchase')
),
last_purchase AS (
  SELECT customer_id, max(event_ts) AS purchase_ts
  FROM recent WHERE event_type = 'purchase' GROUP BY customer_id
),
removed AS (
  SELECT customer_id, sku, max(event_ts) AS removed_ts
  FROM recent WHERE event_type = 'remove_from_cart' GROUP BY customer_id, sku
),
carts AS (
  SELECT r.customer_id, r.event_ts, r.sku
  FROM recent r
  CROSS JOIN params p
  LEFT JOIN last_purchase b ON b.customer_id = r.customer_id
  LEFT JOIN removed x ON x.customer_id = r.customer_id AND x.sku = r.sku
  WHERE r.event_type = 'add_to_cart'
    AND r.event_ts <= p.now - p.wait
    AND (b.purchase_ts IS NULL OR b.purchase_ts < r.event_ts)
    AND (x.removed_ts IS NULL OR x.removed_ts < r.event_ts)
),
items AS (
  SELECT customer_id, sku, min(event_ts) AS first_ts, max(event_ts) AS last_ts
  FROM carts GROUP BY customer_id, sku
)
SELECT i.customer_id,
       min(i.first_ts) AS first_cart_ts,
       max(i.last_ts) AS last_cart_ts,
       round((date_part('epoch', max(p.now)) - date_part('epoch', max(i.last_ts))) / 3600.0, 1) AS hours_since_cart,
       array_agg(i.sku ORDER BY i.sku) AS items,
       array_agg(pr.name ORDER BY i.sku) AS item_names,
       array_agg(DISTINCT pr.category) AS categories,
       sum(pr.price) AS cart_value
FROM items i
CROSS JOIN params p
JOIN products pr ON pr.sku = i.sku
GROUP BY i.customer_id;
