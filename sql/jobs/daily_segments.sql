-- One row per customer with a completed order before $as_of (midnight UTC):
-- RFM base and scores as of that day, and two segments. $as_of is bound by
-- `microseg materialize --as-of` as a DATE.
SELECT customer_id,
       recency_days,
       tenure_days,
       frequency,
       monetary,
       r, f, m,
       rfm_code,
       segment_of('rfm_standard') AS rfm_segment,
       segment_of('lifecycle') AS lifecycle
FROM rfm(completed_orders, customer_id, order_ts, amount, $as_of)
