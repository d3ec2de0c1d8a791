#!/usr/bin/env bash
# The whole test suite. Installs what it needs (the Python test tooling in .venv) and reuses
# it when present.
set -euo pipefail
cd "$(dirname "$0")"
# Assigned before export: `export X="$(cmd)"` would hide a failing set-up behind export's status.
VIREID_PYTHON="$(scripts/python-env.sh)"
export VIREID_PYTHON
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace "$@"
