#!/usr/bin/env bash
# Peak memory of training on a SYSU-MM01-sized dataset, vireid against the reference's way of
# holding its data, in one run. Writes a synthetic SYSU-MM01 tree with the real training set's
# size (395 training people, ~22,700 visible and ~11,100 infrared images; the 384 x 192 uint8
# cache is ~7.5 GB) and then:
#   - vireid train (ResNet-50, B = 6, K = 4, 384 x 192, RLE), stopped with Ctrl-C after
#     STOP_AFTER seconds (default 150, a few steps; it saves and exits);
#   - PyTorch stepping the reference network on the same batch size after np.load-ing the two
#     cached image arrays, as the reference's data loader does.
# Peaks are sampled from /proc: anonymous memory (the process's own) and file-backed memory
# (vireid reads the cache through a memory map: pages the kernel can drop and read again).
# Needs ~10 GB of disk and ~18 GB of RAM (the reference side). Usage:
#   scripts/bench-memory.sh [FOLDER [STOP_AFTER]]    (default: a temporary folder, removed)
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/python-env.sh)"
stop_after="${2:-150}"
if [[ -n "${1:-}" ]]; then
  dir="$1"
  mkdir -p "$dir"
else
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' EXIT
fi
cargo build --release -q -p vireid
if [[ ! -f "$dir/sysu/train_ir_resized_img192.npy" ]]; then
  target/release/vireid synth --dataset sysu --out "$dir/sysu" --ids 592 --min-images 13 \
    --max-images 25 --height 128 --width 64 --json > /dev/null
  target/release/vireid prepare --dataset sysu --root "$dir/sysu" --json > /dev/null
fi
rm -rf "$dir/run"
ours="$("$py" scripts/peak_memory.py --interrupt-after "$stop_after" -- target/release/vireid \
  train --dataset sysu --root "$dir/sysu" --out "$dir/run" --threads 2 2> "$dir/train.log")"
steps="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["partial"]["steps"])' \
  "$dir/run/state.json" 2> /dev/null || echo '?')"
theirs="$(REFERENCE_CACHE_DIR="$dir/sysu" "$py" scripts/peak_memory.py -- "$py" \
  scripts/torch_step_time.py 6 4 384 192 1 2 2> /dev/null)"
"$py" - "$ours" "$theirs" "$steps" "$dir/sysu" <<'PY'
import json, os, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
cache = sum(os.path.getsize(os.path.join(sys.argv[4], f"train_{m}_resized_img192.npy")) for m in ("rgb", "ir"))
gb = lambda b: f"{b / 1e9:6.2f} GB"
print(f"SYSU-MM01-sized training cache: {gb(cache)} (384 x 192 uint8)")
print(f"{'':34}{'anonymous':>11}{'file-backed':>13}{'peak RSS':>11}")
print(f"{'reference (np.load cache + step)':34}{gb(t['peak_anon_bytes']):>11}{gb(t['peak_file_bytes']):>13}{gb(t['peak_rss_bytes']):>11}")
print(f"{'vireid train (' + sys.argv[3] + ' steps, mmap cache)':34}{gb(o['peak_anon_bytes']):>11}{gb(o['peak_file_bytes']):>13}{gb(o['peak_rss_bytes']):>11}")
print(f"ratio of anonymous peaks reference / vireid: {t['peak_anon_bytes'] / o['peak_anon_bytes']:.2f}")
PY
