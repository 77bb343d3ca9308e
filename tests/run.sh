#!/usr/bin/env bash
# The test command of the README: sets up what the tests need that cargo
# does not bring (a real S3-API server, moto, DuckDB as an independent
# reference, and real Flight SQL clients, in a venv under target/), then
# runs every test of the workspace and the Python client tests.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
# Bump when the list changes, so an existing venv gets the new packages.
requirements='moto[server]>=5,<6 duckdb>=1.1,<3 scikit-learn>=1.3,<2 lifetimes==0.11.3 pytest>=8,<10 pyarrow>=16 adbc-driver-manager>=1.3,<2 adbc-driver-flightsql>=1.3,<2 flightsql-dbapi>=0.2,<0.3 pandas>=2,<4 recordlinkage==0.16 deltalake>=1,<2 jellyfish>=1.1,<2 doublemetaphone==1.2 phonenumbers==9.0.33 lightgbm==4.7.0 scikit-uplift==0.5.1 implicit==0.7.3 playwright>=1.45,<2'
stamp="$venv/.microseg-requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  echo "setting up $venv (moto S3 server, duckdb, jellyfish, phonenumbers references, Flight SQL clients, Playwright for the system Chromium)…" >&2
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the list is split on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
  echo "$requirements" > "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"

# Third-party data read from inside a PyPI package at test time, never
# committed or installed: the Telco churn CSV in evalml's wheel
# (tests/models/boosted.rs reads it from the archive).
data=target/test-data
if ! ls "$data"/evalml-0.84.0-*.whl >/dev/null 2>&1; then
  "$venv/bin/pip" download --quiet --no-deps --disable-pip-version-check evalml==0.84.0 -d "$data"
fi
# MovieLens-100k for the recommender's test, read from inside the recbole wheel: downloaded, never
# installed (it would pull in PyTorch), never committed.
recbole=target/test-data/recbole
if [ ! -f "$recbole/recbole-1.2.1-py3-none-any.whl" ]; then
  "$venv/bin/pip" download --quiet --no-deps --disable-pip-version-check recbole==1.2.1 -d "$recbole"
fi
export MICROSEG_RECBOLE_WHEEL="$PWD/$recbole/recbole-1.2.1-py3-none-any.whl"

cargo test --workspace "$@"

# Real Flight SQL clients (flightsql-dbapi needs pandas, undeclared) against the `microseg serve` binary cargo just
# built; only on a full run (extra arguments select Rust tests).
if [ "$#" -eq 0 ]; then
  target_dir=$(cargo metadata --no-deps --format-version 1 |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  export MICROSEG_BIN="${MICROSEG_BIN:-$target_dir/debug/microseg}"
  "$venv/bin/python" -m pytest -q tests/python
fi
