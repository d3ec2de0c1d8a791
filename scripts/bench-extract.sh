#!/usr/bin/env bash
# Feature extraction throughput, eval mode, flip included, batch 64, 384 x 192, ResNet-50
# (SYSU width), the same threads: `vireid extract` against PyTorch running the reference
# network on the same checkpoint and images, in one run. Usage:
#   scripts/bench-extract.sh [IMAGES (default 128)] [THREADS (default 2)]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-128}"
threads="${2:-2}"
py="$(scripts/python-env.sh)"
cargo build --release -q -p vireid
dir=runs/bench-extract
mkdir -p "$dir"
if [ ! -f "$dir/ref.t" ]; then
  "$py" crates/vireid-nn/tests/oracle/reference_net.py --out "$dir" --depth 50 --dataset sysu --classes 395 --n 1 --height 32 --width 16
fi
"$py" -c "import numpy as np; np.save('$dir/batch.npy', np.random.default_rng(0).standard_normal(($n, 3, 384, 192), dtype=np.float32))"
torch_json="$("$py" scripts/torch_extract_rate.py --checkpoint "$dir/ref.t" --input "$dir/batch.npy" --threads "$threads")"
ours_json="$(target/release/vireid extract --checkpoint "$dir/ref.t" --modality visible --input "$dir/batch.npy" --out "$dir/features" --flip --batch 64 --threads "$threads" --json)"
"$py" - "$torch_json" "$ours_json" <<'PY'
import json, sys
t, o = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"PyTorch (reference network): {t['images_per_second']:.2f} images/s ({t['images']} images, flip, batch 64)")
print(f"vireid extract:              {o['images_per_second']:.2f} images/s")
print(f"ratio vireid / PyTorch:      {o['images_per_second'] / t['images_per_second']:.3f}")
PY
