#!/usr/bin/env bash
# The recommender on the generated 1M-customer lake's order lines (release
# build): CREATE MODEL (blend), recommend(10) for every customer (rows/s),
# and also_bought for the most-bought SKU against the same statistics as a
# DuckDB self-join over the same lines (exported once to Parquet).
#
#   benches/recommend_1m.sh [LAKE] [CUSTOMERS]      (MICROSEG_BIN=… to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
lake=${1:-bench-lake}
customers=${2:-1000000}
# MICROSEG_BIN: a release binary already built (else one is built here).
bin=${MICROSEG_BIN:-}
if [ -z "$bin" ]; then
  cargo bench --no-run >&2
  bin=target/release/microseg
fi
python=${MICROSEG_PYTHON:-target/test-venv/bin/python}
if [ ! -d "$lake/orders" ]; then
  "$bin" generate --customers "$customers" --seed 42 --out "$lake" >&2
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
lines="SELECT oi.customer_id, oi.sku AS item, o.order_ts AS ts FROM order_items oi JOIN orders o ON o.order_id = oi.order_id"
timed() {
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$label wall_s=$(echo "$end - $start" | bc)"
}
timed "create model (blend)   " "$bin" sql --lake "$lake" -c \
  "CREATE OR REPLACE MODEL bench_recs OPTIONS (model_type 'recommender', half_life_days 180) AS $lines"
rows=$("$bin" sql --lake "$lake" -c "SELECT count(*) AS n FROM recommend('bench_recs', 10)" | grep -o '[0-9]\{4,\}' | head -1)
timed "open the lake with the model" "$bin" sql --lake "$lake" -c "SELECT 1"
# One process, the same statement twice: the first derives the neighbours
# and popularity tables (on first use), the second only scores.
"$bin" sql --lake "$lake" -c "SELECT count(*) FROM recommend('bench_recs', 10); SELECT count(*) FROM recommend('bench_recs', 10)" 2>&1 |
  grep -o 'in [0-9.]* s' | paste -sd' ' | sed "s/^/recommend(10), $rows rows, first then second statement: /"
sku=$("$bin" sql --lake "$lake" -c "SELECT sku FROM order_items GROUP BY sku ORDER BY count(DISTINCT customer_id) DESC LIMIT 1" |
      grep -o '[A-Z]\{3\}-[A-Z]\{3\}-[0-9]\{4\}' | head -1)
timed "also_bought($sku) microseg (incl. model load)" "$bin" sql --lake "$lake" -c \
  "SELECT * FROM also_bought('bench_recs', '$sku', 20)"
"$bin" sql --lake "$lake" -c "COPY (SELECT DISTINCT customer_id, item FROM ($lines)) TO '/tmp/bench_pairs.parquet'" >/dev/null
timed "also_bought($sku) DuckDB self-join" "$python" -c "
import duckdb
con = duckdb.connect()
con.execute(\"CREATE VIEW p AS SELECT * FROM '/tmp/bench_pairs.parquet'\")
con.execute('''
WITH n AS (SELECT count(DISTINCT customer_id)::DOUBLE t FROM p),
     c AS (SELECT item, count(*)::DOUBLE b FROM p GROUP BY item),
     pairs AS (SELECT y.item o, count(*)::DOUBLE both_ FROM p x JOIN p y ON x.customer_id = y.customer_id
               AND x.item = '$sku' AND y.item <> x.item GROUP BY y.item)
SELECT o, both_, both_/t, both_/ca.b, (both_/t)/((ca.b/t)*(cb.b/t)) FROM pairs, n, c ca, c cb
WHERE ca.item = '$sku' AND cb.item = o ORDER BY both_ DESC LIMIT 20''').fetchall()
"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
