#!/usr/bin/env bash
# Creates (once) and reuses the project's Python virtual environment, .venv, and prints the
# path of its python. It holds:
#   - numpy and Pillow: the parity tests' tooling (the reference's .npy and image library);
#   - torch==2.13.0 from PyPI: libtorch for the tch crate (the wheel ships the C++ library and
#     headers; its CUDA libraries come with it, so the same set-up drives a GPU), and PyTorch
#     itself, which the network parity tests use as the oracle.
# It also points .libtorch at the wheel's torch folder; .cargo/config.toml sets LIBTORCH to
# that link unless LIBTORCH is already set, so a user's own libtorch 2.13 wins.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.vireid-requirements"
want="numpy>=1.24 Pillow>=10 torch==2.13.0"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setting up $venv (numpy, Pillow, torch 2.13.0: about a minute, 5 GB)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
  echo "$want" > "$stamp"
fi
purelib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "$(readlink "$here/.libtorch" 2>/dev/null || true)" != "$purelib/torch" ]; then
  ln -sfn "$purelib/torch" "$here/.libtorch"
fi
echo "$venv/bin/python"
