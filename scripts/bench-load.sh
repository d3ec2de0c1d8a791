#!/usr/bin/env bash
# Training speed alone and beside one competing busy process (a single-threaded loop), with
# libtorch's OpenMP threads spinning while they wait (libgomp's default: vireid-torch started
# directly) and sleeping (OMP_WAIT_POLICY=PASSIVE: what `vireid train` sets), in one run.
# On N cores the competitor's fair share leaves training N/(N+1) of the machine, a slowdown
# of (N+1)/N (1.5x on two cores).
#   scripts/bench-load.sh          # EPOCHS=3 (ResNet-18, 48 x 24, the demo's budget)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh > /dev/null
cargo build --release --quiet -p vireid
dir="${BENCH_DIR:-target/bench}/load"
epochs="${EPOCHS:-3}"
mkdir -p "$dir"
vireid=target/release/vireid
. scripts/bench-tiny.sh
rate() { # $1: label, $2: executable, then the environment's extra words
  local label="$1" exe="$2"; shift 2
  rm -rf "$dir/run"
  env "$@" "$exe" train --dataset sysu --root "$dir/data" --config "$dir/tiny.toml" \
    --epochs "$epochs" --out "$dir/run" --json > /dev/null 2>&1
  printf '%-40s%10.1f\n' "$label" "$(mean_rate "$dir/run/metrics.jsonl")"
}
# The loop's output goes nowhere: holding the $(...) pipe open, it would never let it end.
busy() { python3 -c "while True: pass" > /dev/null 2>&1 & echo $!; }
cores="$(nproc)"
echo "training images/s (ResNet-18 48 x 24, epochs 2..$epochs, $cores cores)"
spin_alone="$(rate "spinning waits, alone" target/release/vireid-torch -u OMP_WAIT_POLICY)"
sleep_alone="$(rate "sleeping waits, alone" target/release/vireid OMP_WAIT_POLICY=PASSIVE)"
pid="$(busy)"; trap 'kill $pid 2>/dev/null || true' EXIT
spin_loaded="$(rate "spinning waits, beside a busy process" target/release/vireid-torch -u OMP_WAIT_POLICY)"
sleep_loaded="$(rate "sleeping waits, beside a busy process" target/release/vireid OMP_WAIT_POLICY=PASSIVE)"
kill "$pid"
printf '%s\n%s\n%s\n%s\n' "$spin_alone" "$sleep_alone" "$spin_loaded" "$sleep_loaded"
python3 - "$cores" "$spin_alone" "$sleep_alone" "$spin_loaded" "$sleep_loaded" <<'PY'
import sys
n = int(sys.argv[1])
v = [float(a.split()[-1]) for a in sys.argv[2:]]
print(f"slowdown beside a busy process: spinning {v[0] / v[2]:.2f}x, sleeping {v[1] / v[3]:.2f}x "
      f"(a fair share: {(n + 1) / n:.2f}x); sleeping alone runs at {v[1] / v[0]:.2f} of spinning alone")
PY
