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
