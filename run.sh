#!/usr/bin/env bash
# Runs vireid, building it first (release) with everything it needs.
#   ./run.sh                 the main job: `vireid demo --out runs/demo` (synthetic data,
#                            training, the 10-trial test, runs/demo/report/index.html)
#   ./run.sh SUBCOMMAND ...  any vireid subcommand, e.g. ./run.sh splits --help
set -euo pipefail
cd "$(dirname "$0")"
# libtorch comes from the torch wheel in .venv (see scripts/python-env.sh).
scripts/python-env.sh > /dev/null
cargo build --release --quiet -p vireid
bin=target/release/vireid
if [ $# -gt 0 ]; then
  exec "$bin" "$@"
fi
exec "$bin" demo --out runs/demo
