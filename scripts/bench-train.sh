#!/usr/bin/env bash
# Seconds per training step of the ResNet-50 part network on CPU, vireid against PyTorch
# running the reference network, same sizes and threads, in one run: ROUNDS rounds (default
# 3), each timing PyTorch then vireid, so that both see the same moments of a shared machine;
# the ratio is of the medians. Usage:
#   scripts/bench-train.sh [B K H W STEPS THREADS]   (default 2 2 384 192 5 2: 8 images a step)
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/python-env.sh)"
args=("${@:-2 2 384 192 5 2}")
read -r -a args <<< "${args[*]}"
cargo build --release -q -p vireid-engine --example step_time
results=()
for _ in $(seq "${ROUNDS:-3}"); do
  results+=("$("$py" scripts/torch_step_time.py "${args[@]}")")
  results+=("$(target/release/examples/step_time "${args[@]}")")
done
last="$(VIREID_CHANNELS_LAST=1 target/release/examples/step_time "${args[@]}")"
"$py" - "$last" "${results[@]}" <<'PY'
import json, statistics, sys
c = json.loads(sys.argv[1])
runs = [json.loads(a)["seconds_per_step"] for a in sys.argv[2:]]
theirs, ours = runs[0::2], runs[1::2]
t, o = statistics.median(theirs), statistics.median(ours)
images = json.loads(sys.argv[2])["images"]
fmt = lambda xs: ", ".join(f"{x:.3f}" for x in xs)
print(f"PyTorch (reference network): {t:.3f} s/step, median of {fmt(theirs)} ({images} images)")
print(f"vireid:                      {o:.3f} s/step, median of {fmt(ours)}")
print(f"ratio PyTorch / vireid:      {t / o:.3f} (above 1: vireid faster; per round: "
      f"{fmt([a / b for a, b in zip(theirs, ours)])})")
print(f"vireid channels-last:        {c['seconds_per_step']:.3f} s/step, ratio {t / c['seconds_per_step']:.3f} (not used for training: see README)")
PY
