#!/usr/bin/env bash
# What the deterministic mode costs: training images/s with libtorch's native kernels and
# threads against `--deterministic` (kernels pinned to AVX2, 2 threads), alternating so that
# both see the same machine load, and the ratio; the demo's budget (ResNet-18, 48 x 24).
#   scripts/bench-deterministic.sh            # EPOCHS=3, ROUNDS=2; PROFILE=debug uses the
#                                             # debug build (libtorch's speed is the same)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh > /dev/null
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then cargo build --release --quiet -p vireid; else cargo build --quiet -p vireid; fi
vireid="target/$profile/vireid"
dir="${BENCH_DIR:-target/bench}/deterministic"
epochs="${EPOCHS:-3}"
rounds="${ROUNDS:-2}"
mkdir -p "$dir"
. scripts/bench-tiny.sh
rate() { # $@: extra flags; prints images/s over the epochs after the first
  rm -rf "$dir/run"
  "$vireid" train --dataset sysu --root "$dir/data" --config "$dir/tiny.toml" \
    --epochs "$epochs" --out "$dir/run" --json "$@" > /dev/null 2>&1
  mean_rate "$dir/run/metrics.jsonl"
}
native=0; det=0
for _ in $(seq "$rounds"); do
  n="$(rate)"; d="$(rate --deterministic)"
  native="$(python3 -c "print($native + $n)")"; det="$(python3 -c "print($det + $d)")"
done
python3 - "$native" "$det" "$rounds" "$(nproc)" <<'PY'
import sys
native, det, rounds, cores = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
n, d = native / rounds, det / rounds
print(f"{'cores':<34}{cores:>10}")
print(f"{'native kernels and threads, img/s':<34}{n:>10.1f}")
print(f"{'--deterministic, img/s':<34}{d:>10.1f}")
print(f"{'cost (native / deterministic)':<34}{n / d:>10.2f}x")
PY
