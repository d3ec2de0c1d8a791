#!/usr/bin/env bash
# Seconds per training step of the ResNet-50 part network on CPU, vireid against PyTorch
# running the reference network, same sizes and threads, in one run. Usage:
#   scripts/bench-train.sh [B K H W STEPS THREADS]   (default 2 2 384 192 5 2: 8 images a step)
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/python-env.sh)"
args=("${@:-2 2 384 192 5 2}")
read -r -a args <<< "${args[*]}"
cargo build --release -q -p vireid-nn --example step_time
theirs="$("$py" scripts/torch_step_time.py "${args[@]}")"
ours="$(target/release/examples/step_time "${args[@]}")"
system="$(VIREID_MALLOC=system target/release/examples/step_time "${args[@]}")"
last="$(VIREID_CHANNELS_LAST=1 target/release/examples/step_time "${args[@]}")"
"$py" - "$theirs" "$ours" "$system" "$last" <<'PY'
import json, sys
t, o, m, c = (json.loads(a) for a in sys.argv[1:5])
print(f"PyTorch (reference network): {t['seconds_per_step']:.3f} s/step ({t['images']} images)")
print(f"vireid:                      {o['seconds_per_step']:.3f} s/step")
print(f"ratio PyTorch / vireid:      {t['seconds_per_step'] / o['seconds_per_step']:.3f} (above 1: vireid faster)")
print(f"vireid, glibc's default malloc: {m['seconds_per_step']:.3f} s/step, ratio {t['seconds_per_step'] / m['seconds_per_step']:.3f} (what keeping freed memory gains)")
print(f"vireid channels-last:        {c['seconds_per_step']:.3f} s/step, ratio {t['seconds_per_step'] / c['seconds_per_step']:.3f} (not used for training: see README)")
PY
