#!/usr/bin/env python3
"""Independent reference for microseg's rfm(): the same definition written in
plain SQL and run by DuckDB over the lake's Parquet files.

Usage: rfm_reference.py LAKE_DIR

Prints one CSV line per customer, sorted by customer_id:
customer_id,first_us,last_us,recency_days,tenure_days,frequency,monetary,r,f,m,rfm_code,segment
(timestamps as epoch microseconds, monetary as DuckDB prints the exact decimal).
"""

import sys

try:
    import duckdb
except ImportError as e:
    sys.exit(f"{sys.executable}: {e}; install it with `pip install duckdb` (tests/run.sh does)")

SQL = """
WITH orders AS (
  SELECT * FROM read_parquet('{lake}/orders/*/*.parquet', hive_partitioning = true)
), base AS (
  SELECT customer_id, min(order_ts) AS first_ts, max(order_ts) AS last_ts,
         count(*) AS frequency, sum(amount) AS monetary
  FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id
), as_of AS (
  SELECT epoch_us(max(last_ts)) + 86400000000 AS as_of_us FROM base
), days AS (
  SELECT b.*, epoch_us(first_ts) AS first_us, epoch_us(last_ts) AS last_us,
         (as_of_us - epoch_us(last_ts)) // 86400000000 AS recency_days,
         (as_of_us - epoch_us(first_ts)) // 86400000000 AS tenure_days
  FROM base b, as_of
), scored AS (
  -- score = 1 + floor(bins * (rank - 1) / N), rank = RANK() (ties share the lowest)
  SELECT *,
    1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) // count(*) OVER () AS r,
    1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) // count(*) OVER () AS f,
    1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) // count(*) OVER () AS m
  FROM days
)
SELECT customer_id, first_us, last_us, recency_days, tenure_days, frequency, monetary, r, f, m,
  CAST(r AS VARCHAR) || CAST(f AS VARCHAR) || CAST(m AS VARCHAR) AS rfm_code,
  CASE
    WHEN r = 5 AND f >= 4 THEN 'champions'
    WHEN r BETWEEN 3 AND 4 AND f >= 4 THEN 'loyal'
    WHEN r >= 4 AND f BETWEEN 2 AND 3 THEN 'potential_loyalist'
    WHEN r = 5 AND f = 1 THEN 'new_customers'
    WHEN r = 4 AND f = 1 THEN 'promising'
    WHEN r = 3 AND f = 3 THEN 'need_attention'
    WHEN r = 3 AND f <= 2 THEN 'about_to_sleep'
    WHEN r <= 2 AND f BETWEEN 3 AND 4 THEN 'at_risk'
    WHEN r <= 2 AND f = 5 THEN 'cant_lose_them'
    WHEN r <= 2 AND f <= 2 THEN 'hibernating'
  END AS segment
FROM scored
ORDER BY customer_id
"""


def main():
    lake = sys.argv[1]
    con = duckdb.connect()
    for row in con.sql(SQL.format(lake=lake.replace("'", "''"))).fetchall():
        print(",".join(str(v) for v in row))


if __name__ == "__main__":
    main()
