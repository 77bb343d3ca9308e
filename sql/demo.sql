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

-- The per-customer base of RFM: recency, frequency and monetary value of completed orders.
CREATE VIEW customer_base AS
SELECT customer_id,
       max(order_ts) AS last_order_ts,
       (to_unixtime((SELECT max(order_ts) FROM orders)) - to_unixtime(max(order_ts))) / 86400.0 AS recency_days,
       count(*) AS frequency,
       sum(amount) AS monetary
FROM orders
WHERE status = 'completed'
GROUP BY customer_id;

-- Revenue concentration: the share of revenue held by the top 5% of customers.
SELECT round(100.0 * sum(CASE WHEN rank_pct <= 0.05 THEN monetary END) / sum(monetary), 1) AS top5_pct_revenue_share,
       count(*) AS buying_customers
FROM (SELECT monetary, percent_rank() OVER (ORDER BY monetary DESC) AS rank_pct FROM customer_base);

-- RFM segments: quantile scores with stable ties (rfm_score, recency reversed) and the standard R-F map (rfm_segment).
SELECT rfm_segment(s['r'], s['f']) AS segment,
       count(*) AS customers,
       round(avg(monetary), 2) AS avg_monetary,
       round(100.0 * sum(monetary) / sum(sum(monetary)) OVER (), 1) AS pct_revenue
FROM (SELECT monetary, rfm_score(recency_days, frequency, monetary) OVER () AS s FROM customer_base)
GROUP BY 1
ORDER BY pct_revenue DESC;

-- The most common RFM codes: rfm_code packs the three scores, e.g. '545'.
SELECT rfm_code(s['r'], s['f'], s['m']) AS rfm_code, count(*) AS customers
FROM (SELECT rfm_score(recency_days, frequency, monetary) OVER () AS s FROM customer_base)
GROUP BY 1
ORDER BY customers DESC
LIMIT 5;

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

-- Abandoned carts in the last 7 days of data: added to cart, no purchase since.
SELECT count(DISTINCT customer_id) AS customers_with_abandoned_cart
FROM events e
WHERE e.event_type = 'add_to_cart'
  AND e.event_ts >= (SELECT max(event_ts) FROM events) - INTERVAL '7 days'
  AND NOT EXISTS (
    SELECT 1 FROM events p
    WHERE p.customer_id = e.customer_id AND p.event_type = 'purchase' AND p.event_ts >= e.event_ts);
