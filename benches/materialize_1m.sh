#!/usr/bin/env bash
# End-to-end `microseg materialize` of the shipped daily job on a generated
# lake: wall time and peak memory (GNU time's maximum resident set size).
#
#   benches/materialize_1m.sh [LAKE] [CUSTOMERS]
#
# LAKE defaults to bench-lake (generated with seed 42 if it has no orders);
# the release binary is built first. Run 1 creates the table, runs 2 and 3
# replace the same as_of snapshot (the daily re-run case), run 4 adds a
# second date. Prints one line per run and the median of runs 2-3.
set -euo pipefail
cd "$(dirname "$0")/.."
lake=${1:-bench-lake}
customers=${2:-1000000}
# The bench profile builds the binary with the same features as the other benchmarks.
cargo bench --no-run >&2
bin=target/release/microseg
if [ ! -d "$lake/orders" ]; then
  "$bin" generate --customers "$customers" --seed 42 --out "$lake" >&2
fi
rm -rf "$lake/segments/customer_segments" "$lake/_microseg/locks/segments"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {
  local date=$1 label=$2
  local out
  out=$( { /usr/bin/time -f "TIME %e %M" "$bin" materialize --lake "$lake" sql/jobs/daily_segments.toml \
      --as-of "$date" --log-format json; } 2>&1 )
  local rows version secs kib
  rows=$(grep -o '"rows":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)
  version=$(grep -o '"version":[0-9]*' <<<"$out" | tail -1 | cut -d: -f2)
  read -r secs kib < <(grep '^TIME' <<<"$out" | awk '{print $2, $3}')
  echo "$label as_of=$date rows=$rows version=$version wall_s=$secs peak_rss_mib=$((kib / 1024))"
}
run 2026-10-31 "create "
run 2026-10-31 "replace"
run 2026-10-31 "replace"
run 2026-09-30 "add    "
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
du -sh "$lake/segments/customer_segments"
