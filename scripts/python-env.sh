#!/usr/bin/env bash
# Creates (once) and reuses the project's Python virtual environment, .venv, with the test
# tooling: numpy (to read and write .npy files) and Pillow (the reference's image library).
# Prints the path of its python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.vireid-requirements"
want="numpy>=1.24 Pillow>=10"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
