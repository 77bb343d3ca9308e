-- Trigger: slipping customers.
--
-- Business meaning: regular buyers whose usual rhythm has broken: at least
-- `min_purchases` purchases, and the time since the last one is more than
-- `gap_multiple` times their own median gap between purchases. Measured
-- against each customer's own rhythm, so a weekly shopper is flagged after
-- a few weeks and a twice-a-year buyer only after a year; a win-back
-- message before they are lost for good. Cancelled orders are not
-- purchases; returned ones are (the customer did come to buy).
--
-- Parameters (the constants in `params`; edit them there):
--   min_purchases  3    purchases needed for a rhythm (2 gaps or more)
--   gap_multiple   2.0  "slipping" = days since last purchase > gap_multiple × median gap
--   now            the latest event_ts in the lake (historical); on live data use now()
--
-- Output, one row per customer:
--   customer_id, purchases, last_purchase_ts
--   median_gap_days, mean_gap_days   of the gaps between consecutive purchases
--   days_since_last                  days (fractional) from last_purchase_ts to now
--   overdue_ratio                    days_since_last ÷ median_gap_days (> gap_multiple)
CREATE OR REPLACE VIEW trigger_slipping AS
WITH params AS (
  SELECT 3 AS min_purchases,
         2.0 AS gap_multiple,
         (SELECT max(event_ts) FROM events) AS now
),
rhythm AS (
  SELECT customer_id,
         interpurchase_stats(order_ts) AS s,
         max(order_ts) AS last_purchase_ts
  FROM orders
  WHERE status <> 'cancelled'
  GROUP BY customer_id
),
measured AS (
  SELECT r.customer_id,
         r.s['n'] AS purchases,
         r.last_purchase_ts,
         r.s['median_gap_days'] AS median_gap_days,
         r.s['mean_gap_days'] AS mean_gap_days,
         (date_part('epoch', p.now) - date_part('epoch', r.last_purchase_ts)) / 86400.0 AS days_since_last,
         p.min_purchases,
         p.gap_multiple
  FROM rhythm r CROSS JOIN params p
)
SELECT customer_id, purchases, last_purchase_ts,
       round(median_gap_days, 2) AS median_gap_days,
       round(mean_gap_days, 2) AS mean_gap_days,
       round(days_since_last, 2) AS days_since_last,
       round(days_since_last / median_gap_days, 2) AS overdue_ratio
FROM measured
WHERE purchases >= min_purchases
  AND days_since_last > gap_multiple * median_gap_days;
