#!/usr/bin/env bash
# Is the input pipeline fully overlapped with the steps? Trains one epoch (384 x 192,
# B = 6, K = 4, the SYSU-MM01 augmentation with RLE) on a small synthetic SYSU-MM01 tree and
# compares the epoch's wall time with the time spent inside the steps; the difference is
# time the network waited for a batch. The default, ResNet-18, is the hard case: the fastest
# network leaves the augmentation the least time. Usage:
#   scripts/bench-epoch.sh [BACKBONE [IDS]]     (default resnet18 8; resnet50 16 takes ~6 min)
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/python-env.sh)"
backbone="${1:-resnet18}"
ids="${2:-8}"
cargo build --release -q -p vireid
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
target/release/vireid synth --dataset sysu --out "$tmp/sysu" --ids "$ids" --json > /dev/null
printf 'backbone = "%s"\neval_every = 0\n' "$backbone" > "$tmp/bench.toml"
target/release/vireid train --dataset sysu --root "$tmp/sysu" --config "$tmp/bench.toml" \
  --epochs 1 --threads 2 --out "$tmp/run" --json > "$tmp/state.json"
"$py" - "$tmp/state.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["history"][0]
steps, wall, inside, wait = r["steps"], r["seconds"], r["seconds_stepping"], r["seconds_waiting"]
print(f"one epoch: {steps} steps of {r['images_per_second'] * wall / steps:.0f} images")
print(f"epoch wall time:             {wall:.2f} s")
print(f"steps x mean step time:      {inside:.2f} s ({inside / steps:.3f} s/step)")
print(f"waiting for batches:         {wait:.2f} s")
print(f"ratio epoch / steps:         {wall / inside:.3f} (1.0: the pipeline is fully overlapped)")
PY
