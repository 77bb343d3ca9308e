#!/usr/bin/env bash
# The test command of the README: sets up what the tests need that cargo
# does not bring (a real S3-API server, moto, in a venv under target/), then
# runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "setting up $venv (moto S3 server for the S3 lake tests)…" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]>=5,<6"
fi
export PATH="$PWD/$venv/bin:$PATH"

cargo test --workspace "$@"
