#!/usr/bin/env bash
# Data-parallel training speed: one process against NPROC processes (default 2) on the same
# tiny job (ResNet-18, 48 x 24, the demo's budget), in one run: steps/s of each process,
# images/s of the job (all processes' images), and the time per step spent exchanging
# (gradients all-reduced, running statistics broadcast). On a CPU machine the processes share
# the cores (Gloo); on a GPU machine each takes cuda:LOCAL_RANK (NCCL): the script is the same.
#   scripts/bench-dist.sh              # EPOCHS=3 NPROC=2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh > /dev/null
cargo build --release --quiet -p vireid
dir="${BENCH_DIR:-target/bench}/dist"
epochs="${EPOCHS:-3}"
nproc="${NPROC:-2}"
mkdir -p "$dir"
vireid=target/release/vireid
. scripts/bench-tiny.sh
for n in 1 "$nproc"; do
  rm -rf "$dir/run$n"
  "$vireid" train --dataset sysu --root "$dir/data" --config "$dir/tiny.toml" \
    --epochs "$epochs" --out "$dir/run$n" --nproc "$n" --json > /dev/null
done
python3 - "$dir" "$nproc" "$(nproc)" <<'PY'
import json, sys
d, n, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rates(k):
    rows = [json.loads(l) for l in open(f"{d}/run{k}/metrics.jsonl")][1:]
    steps = sum(r["steps"] for r in rows)
    stepping = sum(r["seconds"] for r in rows)
    exch = sum(r.get("seconds_exchanging") or 0.0 for r in rows)
    return steps / stepping, sum(r["images_per_second"] for r in rows) / len(rows), exch / steps
print(f"training after the first epoch ({cores} cores; one process: libtorch's threads on all of them)")
print(f"{'processes':>9}  {'steps/s each':>12}  {'images/s (job)':>14}  {'exchange ms/step':>16}")
one, many = rates(1), rates(n)
for k, (s, i, e) in [(1, one), (n, many)]:
    print(f"{k:>9}  {s:>12.2f}  {i:>14.1f}  {1000 * e:>16.2f}")
print(f"{n} processes run the job at {many[1] / one[1]:.2f}x the images/s of one; "
      f"exchanges take {100 * many[2] * many[0]:.1f}% of each step")
PY
