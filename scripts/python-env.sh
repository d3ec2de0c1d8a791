#!/usr/bin/env bash
# Creates (once) and reuses the project's Python virtual environment, .venv, and prints the
# path of its python. It holds:
#   - numpy and Pillow: the parity tests' tooling (the reference's .npy and image library);
#   - torch==2.13.0 from PyPI: libtorch for the tch crate (the wheel ships the C++ library and
#     headers; its CUDA libraries come with it, so the same set-up drives a GPU), and PyTorch
#     itself, which the network parity tests use as the oracle;
#   - nvidia-cuda-crt and nvidia-cuda-cccl 13.0: the CUDA headers that the wheel's CUDA runtime
#     package leaves out, so that vireid-dist compiles c10d's NCCL backend (headers only).
# It also points .libtorch at the wheel's torch folder; .cargo/config.toml sets LIBTORCH to
# that link unless LIBTORCH is already set, so a user's own libtorch 2.13 wins.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.vireid-requirements"
want="numpy>=1.24 Pillow>=10 torch==2.13.0 nvidia-cuda-crt==13.0.* nvidia-cuda-cccl==13.0.*"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setting up $venv (numpy, Pillow, torch 2.13.0: about a minute, 5 GB)" >&2
  free_kb="$(df -Pk "$here" | awk 'NR == 2 { print $4 }')"
  if [ "${free_kb:-0}" -lt $((6 * 1024 * 1024)) ]; then
    echo "warning: $(( ${free_kb:-0} / 1024 )) MB free under $here; the environment needs about 5 GB" >&2
  fi
  # --no-cache-dir: pip would otherwise keep a second copy of the 3 GB of wheels.
  if ! "$venv/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check $want >&2; then
    echo "error: could not install $want into $venv (see pip's message above)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
purelib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "$(readlink "$here/.libtorch" 2>/dev/null || true)" != "$purelib/torch" ]; then
  ln -sfn "$purelib/torch" "$here/.libtorch"
fi
echo "$venv/bin/python"
