#!/usr/bin/env bash
# Ten times the customers on one node: rfm(), CREATE MODEL k-means on the
# RFM features, and `materialize` of the daily job, each one process under
# --memory-limit 4GiB, on a 1M lake and on a 10M lake of customers and
# orders (`generate --tables customers,orders`: about 2 GB). Prints each
# step's wall clock and peak RSS (GNU time) and the 10M ÷ 1M time ratio.
#
#   cargo bench --no-run    # the release binary
#   benches/scale_10m.sh [BIN] [LAKE_1M] [LAKE_10M]
set -euo pipefail
bin=${1:-target/release/microseg}
small=${2:-scale-lake-1m}
big=${3:-scale-lake-10m}
limit=4GiB

need_gb() {
  local free
  free=$(df --output=avail -BG "$(dirname "$(realpath -m "$1")")" | tail -1 | tr -dc 0-9)
  if [ "$free" -lt "$2" ]; then
    echo "only ${free} GB free where $1 goes; $2 GB needed" >&2
    exit 1
  fi
}
for pair in "$small:1000000:1" "$big:10000000:4"; do
  IFS=: read -r lake customers gb <<<"$pair"
  if [ ! -d "$lake/orders" ]; then
    need_gb "$lake" "$gb"
    /usr/bin/time -f "generate $customers: %e s, peak RSS %M KB" \
      "$bin" generate --customers "$customers" --seed 42 --tables customers,orders --out "$lake"
  fi
done

as_of="DATE '2026-10-31'"
rfm="rfm(orders, customer_id, order_ts, amount, $as_of)"
declare -A seconds
step() {
  local name=$1 lake=$2
  shift 2
  local log
  log=$(mktemp)
  /usr/bin/time -f "%e %M" -o "$log" "$@" >/dev/null
  read -r s kb <"$log"
  rm -f "$log"
  seconds[$name:$lake]=$s
  printf '%-12s %-16s %8.2f s  peak RSS %6.2f GiB\n' "$name" "$lake" "$s" "$(echo "$kb / 1048576" | bc -l)"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for lake in "$small" "$big"; do
  step rfm "$lake" "$bin" sql --lake "$lake" --memory-limit $limit \
    -c "SELECT count(*), sum(monetary) FROM $rfm"
  step kmeans "$lake" "$bin" sql --lake "$lake" --memory-limit $limit \
    -c "CREATE OR REPLACE MODEL scale_km OPTIONS (model_type 'kmeans', num_clusters 64, max_iterations 20, tolerance 0, seed 1) AS SELECT recency_days, frequency, monetary FROM $rfm"
  step materialize "$lake" "$bin" materialize --lake "$lake" --memory-limit $limit \
    sql/jobs/daily_segments.toml --as-of 2026-10-31
done
for name in rfm kmeans materialize; do
  printf '%-12s 10M / 1M time: %.2f\n' "$name" \
    "$(echo "${seconds[$name:$big]} / ${seconds[$name:$small]}" | bc -l)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
