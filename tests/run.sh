#!/usr/bin/env bash
# The test command of the README: sets up what the tests need that cargo
# does not bring (a real S3-API server, moto, and DuckDB as an independent
# reference, in a venv under target/), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
# Bump when the list changes, so an existing venv gets the new packages.
requirements='moto[server]>=5,<6 duckdb>=1.1,<3 scikit-learn>=1.3,<2 lifetimes==0.11.3'
stamp="$venv/.microseg-requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  echo "setting up $venv (moto S3 server, duckdb reference)…" >&2
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # the list is split on purpose
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
  echo "$requirements" > "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"

cargo test --workspace "$@"
