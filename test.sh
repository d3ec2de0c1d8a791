#!/usr/bin/env bash
# The whole test suite. Installs what it needs (the Python test tooling in .venv) and reuses
# it when present.
set -euo pipefail
cd "$(dirname "$0")"
# Assigned before export: `export X="$(cmd)"` would hide a failing set-up behind export's status.
VIREID_PYTHON="$(scripts/python-env.sh)"
export VIREID_PYTHON
# The search page's browser test runs Chromium (Debian's package): installed here when this
# runs as root with apt-get; elsewhere that one test says it did not run (CI requires it).
if ! command -v chromium > /dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  echo "installing chromium (Debian's package) for the search page's browser test" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } > /dev/null ||
    echo "warning: could not install chromium; the browser test will not run" >&2
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace "$@"
