-- What a BI reader sees (issue 15): run as a user of role reader over
-- Flight SQL (`microseg serve`). Every row stands for at least
-- [privacy.roles.reader] min_group_size customers, smaller groups are left out.

-- Customers, age and spend per RFM segment (per city too on a large lake:
-- add c.city to both lists).
SELECT r.segment, count(*) AS customers, round(avg(2026 - c.birth_year), 1) AS avg_age,
       round(avg(r.monetary), 2) AS avg_spend
FROM rfm(orders, customer_id, order_ts, amount) r
JOIN customers c ON c.customer_id = r.customer_id
GROUP BY r.segment
ORDER BY r.segment;

-- Orders per channel among customers born before 1980 (the filter keeps and
-- removes enough customers, so it is allowed).
SELECT o.channel, count(*) AS orders, count(DISTINCT o.customer_id) AS customers
FROM orders o JOIN customers c ON c.customer_id = o.customer_id
WHERE c.birth_year < 1980
GROUP BY o.channel
ORDER BY o.channel;
