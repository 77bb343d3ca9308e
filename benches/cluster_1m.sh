#!/usr/bin/env bash
# The same statements on one process and on a loopback Ballista cluster
# (1 scheduler + 2 executors, all microseg processes, release build): the
# whole rfm() table and window_funnel per customer on the 1M-customer lake.
# Each run is a whole `microseg sql` process (lake opening, planning, and
# for the cluster: submission, shuffles, fetching results), as a user runs
# it; the answer is folded to one row so printing costs nothing.
#
#   benches/cluster_1m.sh [LAKE] [CUSTOMERS] [RUNS]
#
# MICROSEG_BIN names a release binary already built (else it is built).
set -euo pipefail
cd "$(dirname "$0")/.."
lake=${1:-bench-lake}
customers=${2:-1000000}
runs=${3:-5}
bin=${MICROSEG_BIN:-target/release/microseg}
[ -n "${MICROSEG_BIN:-}" ] || cargo build --release >&2
if [ ! -d "$lake/orders" ]; then
  "$bin" generate --customers "$customers" --seed 42 --out "$lake" >&2
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Ports away from the defaults, so a cluster already running is not hit.
"$bin" cluster scheduler --bind 127.0.0.1:51050 >"$work/scheduler.log" 2>&1 &
pids+=($!)
until grep -q ready "$work/scheduler.log"; do sleep 0.2; done
for i in 0 1; do
  mkdir -p "$work/executor$i"
  "$bin" cluster executor --scheduler 127.0.0.1:51050 --bind "127.0.0.1:5116$i" \
    --grpc-port "5117$i" --work-dir "$work/executor$i" >"$work/executor$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1; do until grep -q ready "$work/executor$i.log"; do sleep 0.2; done; done

declare -A sql
sql[rfm]="SELECT count(*) AS customers, sum(frequency) AS orders, sum(monetary) AS revenue,
  sum(r * 100 + f * 10 + m) AS scores, count(DISTINCT segment) AS segments
  FROM rfm(orders, customer_id, order_ts, amount)"
sql[funnel]="SELECT level, count(*) AS customers FROM (
  SELECT customer_id, window_funnel(3600, event_ts, event_type = 'product_view', event_type = 'add_to_cart',
    event_type = 'checkout_start', event_type = 'purchase') AS level
  FROM events WHERE event_type IN ('product_view', 'add_to_cart', 'checkout_start', 'purchase')
  GROUP BY customer_id) GROUP BY level ORDER BY level"

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for query in rfm funnel; do
  local_answer=$("$bin" sql --lake "$lake" -c "${sql[$query]}")
  cluster_answer=$("$bin" sql --lake "$lake" --cluster df://127.0.0.1:51050 -c "${sql[$query]}")
  if [ "$local_answer" != "$cluster_answer" ]; then
    echo "$query: the cluster's answer differs from the local one" >&2
    printf 'local:\n%s\ncluster:\n%s\n' "$local_answer" "$cluster_answer" >&2
    exit 1
  fi
  for mode in local cluster; do
    args=()
    [ "$mode" = cluster ] && args=(--cluster df://127.0.0.1:51050)
    for _ in $(seq "$runs"); do
      start=$(date +%s.%N)
      "$bin" sql --lake "$lake" "${args[@]}" -c "${sql[$query]}" >/dev/null
      echo "$(date +%s.%N) - $start" | bc
    done | median >"$work/$query.$mode"
  done
  l=$(cat "$work/$query.local")
  c=$(cat "$work/$query.cluster")
  printf '%-7s local %6.2f s  cluster %6.2f s  cluster/local %.2f\n' "$query" "$l" "$c" "$(echo "$c / $l" | bc -l)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
