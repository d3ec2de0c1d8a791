#!/usr/bin/env bash
# Builds vireid against a PyTorch other than the default 2.13: 2.11 or 2.12 (or 2.13 again),
# from the same sources, for a machine that already has that torch (most GPU servers do). Not
# part of CI (which builds the default); this script is how the other versions are checked.
#
#   LIBTORCH=/path/to/torch scripts/build-torch.sh          # a torch (or libtorch) folder
#   PYTHON=/opt/conda/bin/python scripts/build-torch.sh     # the torch that python imports
#   scripts/build-torch.sh 2.11                              # fetch torch 2.11.0 from PyPI
#   FULL=1 scripts/build-torch.sh 2.11                       # ... with its CUDA libraries
#
# The version is read from the torch found (its version.py or build-version), or given. The
# tch release that matches it is chosen: torch-sys 0.24 pins PyTorch 2.11, 0.26 pins 2.13;
# no tch release pins 2.12, whose C++ API 0.26's wrapper compiles against (built with
# LIBTORCH_BYPASS_VERSION_CHECK). The sources are copied to target/torch-X.Y/src with only the
# two version lines of Cargo.toml changed, built there (the default build is not touched), and
# the executables land in target/torch-X.Y/bin. A torch fetched from PyPI here is the wheel
# (530 MB) with the CUDA runtime and CUPTI libraries its CPU library loads, not the rest of
# its CUDA libraries (GBs): its CUDA part is left out of the build, which then runs on the
# CPU; with FULL=1 the whole torch with its nvidia-* packages (GBs) and the CUDA headers NCCL
# needs, so that the build compiles the NCCL backend and has libtorch_cuda to load where a
# driver is: a binary for a GPU machine with that torch (scripts/gpu-check.sh). A torch found
# on the machine is used whole (CUDA included).
# Then a smoke run: a small synthetic dataset, one epoch of training and the 10-trial test;
# with TESTS=1 also the network and engine test suites on that build (their PyTorch oracle
# is the default .venv's).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

version_of() { # TORCH_DIR -> X.Y.Z
  local dir="$1"
  if [ -f "$dir/version.py" ]; then
    sed -n "s/^__version__ = '\([0-9.]*\).*/\1/p" "$dir/version.py"
  elif [ -f "$dir/build-version" ]; then
    sed 's/[^0-9.].*//' "$dir/build-version"
  fi
}

torch_dir="${LIBTORCH:-}"
if [ -z "$torch_dir" ] && [ -n "${PYTHON:-}" ]; then
  torch_dir="$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
fi
if [ -z "$torch_dir" ]; then
  want="${1:?give a version (2.11, 2.12, 2.13), or LIBTORCH, or PYTHON}"
  env="target/torch-$want/venv"
  kind=cpu
  if [ "${FULL:-0}" = 1 ]; then kind=full; fi
  if [ "$(cat "$env/.vireid-kind" 2>/dev/null)" != "$kind" ]; then
    rm -rf "$env"
    python3 -m venv "$env" >&2
    pip() { "$env/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check "$@" >&2; }
    if [ "$kind" = full ]; then
      echo "fetching torch $want.0 and its CUDA libraries from PyPI into $env (GBs)" >&2
      pip "torch==$want.0"
    else
      echo "fetching torch $want.0 from PyPI into $env (the wheel, 530 MB)" >&2
      pip --no-deps "torch==$want.0"
    fi
    # The CUDA release the wheel was built with (its cuda-toolkit requirement).
    cuda="$("$env/bin/python" -c 'import importlib.metadata as m, re
reqs = m.requires("torch") or []
found = [re.search(r"==(\d+\.\d+)", r) for r in reqs if r.startswith("cuda-toolkit")]
print(found[0].group(1) if found and found[0] else "13.0")')"
    if [ "$kind" = full ]; then
      # Headers the wheel's CUDA runtime package leaves out, for vireid-dist's NCCL backend.
      pip --no-deps "nvidia-cuda-crt==$cuda.*" "nvidia-cuda-cccl==$cuda.*"
    else
      # libtorch_cpu itself loads the CUDA runtime and CUPTI (a few MB); the other nvidia-*
      # packages (GBs) only serve libtorch_cuda, which is left out: a CPU build.
      pip --no-deps "nvidia-cuda-runtime==$cuda.*" "nvidia-cuda-cupti==$cuda.*"
      lib="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch/lib"
      rm -f "$lib"/libtorch_cuda*.so "$lib"/libc10_cuda.so "$lib"/libtorch_nvshmem.so
    fi
    echo "$kind" > "$env/.vireid-kind"
  fi
  torch_dir="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch"
fi
torch_dir="$(cd "$torch_dir" && pwd)"
full="$(version_of "$torch_dir")"
[ -n "$full" ] || { echo "error: cannot tell which PyTorch $torch_dir is" >&2; exit 1; }
minor="${full%.*}"
case "$minor" in
  2.11) tch=0.24.0; bypass= ;;
  2.12) tch=0.26.0; bypass=1 ;;
  2.13) tch=0.26.0; bypass= ;;
  *) echo "error: PyTorch $full: vireid builds against 2.11, 2.12 and 2.13" >&2; exit 1 ;;
esac
[ -z "${1:-}" ] || [ "$1" = "$minor" ] || { echo "error: asked for $1, found $full in $torch_dir" >&2; exit 1; }
out="$here/target/torch-$minor"
src="$out/src"
echo "PyTorch $full in $torch_dir -> tch $tch; building in $src" >&2
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$src"
cp Cargo.lock "$src/Cargo.lock"
sed -i "s/^tch = .*/tch = \"=$tch\"/; s/^torch-sys = .*/torch-sys = \"=$tch\"/" "$src/Cargo.toml"
in_copy() { # runs a command in the copy, against the torch found
  (
    cd "$src"
    export LIBTORCH="$torch_dir" CARGO_TARGET_DIR="$out/target"
    if [ -n "$bypass" ]; then export LIBTORCH_BYPASS_VERSION_CHECK=1; fi
    "$@"
  )
}
in_copy cargo build --release --quiet -p vireid
mkdir -p "$out/bin"
cp "$out/target/release/vireid" "$out/target/release/vireid-torch" "$out/bin/"
echo "built $out/bin/vireid (PyTorch $full, tch $tch)" >&2

# Smoke run: what a user does first, on this build.
smoke="$out/smoke"
rm -rf "$smoke"
mkdir -p "$smoke"
bin="$out/bin/vireid"
printf 'backbone = "resnet18"\nheight = 96\nwidth = 48\nids_per_batch = 3\nimages_per_id = 2\nlr = 0.01\npretrained = "none"\n' \
  > "$smoke/config.toml"
"$bin" synth --dataset sysu --ids 12 --seed 1 --out "$smoke/data" >/dev/null
"$bin" train --dataset sysu --root "$smoke/data" --config "$smoke/config.toml" --epochs 1 \
  --out "$smoke/run" --device cpu --threads 2 --json > "$smoke/train.json"
"$bin" test --dataset sysu --root "$smoke/data" --checkpoint "$smoke/run/last.safetensors" \
  --trials 10 --height 96 --width 48 --device cpu --threads 2 --json > "$smoke/test.json"
echo "smoke run with PyTorch $full: synth, train (1 epoch), test (10 trials): $smoke/test.json"
if [ "${TESTS:-0}" = 1 ]; then
  oracle="${VIREID_PYTHON:-$("$here"/scripts/python-env.sh)}"
  in_copy env VIREID_PYTHON="$oracle" cargo test --release --quiet -p vireid-nn -p vireid-engine
  echo "network and engine tests passed with PyTorch $full" >&2
fi
