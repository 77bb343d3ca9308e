-- Trigger: life events.
--
-- Business meaning: customers whose life just changed, which changes what
-- they buy: a move (new furniture, kitchen, decor: the `address_change`
-- event, dated exactly) and a new baby (the first purchase of baby
-- essentials by someone who had been buying for a while without any). One
-- row per customer and event, with its date, so a campaign can pick "moved
-- in the last 60 days" and so on.
--
-- "New parent" is inferred from purchases: toys are left out of the
-- essentials because they are bought as gifts by everyone; customers who
-- bought essentials from their first order on are existing parents, not
-- new ones; and a single essentials order can be a gift, so it takes a
-- second order with essentials within `confirm_within` of the first.
--
-- Parameters (the constants in `params` and `baby_essentials`; edit them there):
--   baby_essentials  subcategories diapers, baby_food, strollers
--   min_history      INTERVAL '60 days'  buying history without essentials before the first one
--   confirm_within   INTERVAL '90 days'  a second essentials order must follow within this
--   now              the latest event_ts in the lake (historical); on live data use now()
--
-- Output, one row per (customer, life event):
--   customer_id
--   life_event   'moved' or 'new_parent'
--   event_ts     address_change time, or the first essentials order's time
--   days_ago     whole days from event_ts to now
CREATE OR REPLACE VIEW trigger_life_events AS
WITH params AS (
  SELECT INTERVAL '60 days' AS min_history,
         INTERVAL '90 days' AS confirm_within,
         (SELECT max(event_ts) FROM events) AS now
),
baby_essentials AS (
  SELECT subcategory FROM (VALUES ('diapers'), ('baby_food'), ('strollers')) AS t(subcategory)
),
moved AS (
  SELECT customer_id, 'moved' AS life_event, max(event_ts) AS event_ts
  FROM events
  WHERE event_type = 'address_change'
  GROUP BY customer_id
),
first_order AS (
  SELECT customer_id, min(order_ts) AS first_ts
  FROM orders WHERE status <> 'cancelled' GROUP BY customer_id
),
essential_orders AS (
  SELECT DISTINCT o.customer_id, o.order_id, o.order_ts
  FROM orders o
  JOIN order_items i ON i.order_id = o.order_id AND i.order_month = o.order_month
  WHERE o.status <> 'cancelled'
    AND i.subcategory IN (SELECT subcategory FROM baby_essentials)
),
ranked AS (
  SELECT customer_id, order_ts,
         row_number() OVER (PARTITION BY customer_id ORDER BY order_ts) AS n
  FROM essential_orders
),
new_parent AS (
  SELECT a.customer_id, 'new_parent' AS life_event, a.order_ts AS event_ts
  FROM ranked a
  JOIN ranked b ON b.customer_id = a.customer_id AND b.n = 2
  JOIN first_order f ON f.customer_id = a.customer_id
  CROSS JOIN params p
  WHERE a.n = 1
    AND a.order_ts >= f.first_ts + p.min_history
    AND b.order_ts <= a.order_ts + p.confirm_within
),
events_found AS (
  SELECT * FROM moved
  UNION ALL
  SELECT * FROM new_parent
)
SELECT e.customer_id, e.life_event, e.event_ts,
       CAST(floor((date_part('epoch', p.now) - date_part('epoch', e.event_ts)) / 86400.0) AS BIGINT) AS days_ago
FROM events_found e CROSS JOIN params p;
