#!/usr/bin/env bash
# Benchmark of `vireid prepare` on a synthetic tree of SYSU-MM01's size, beside Pillow doing
# the same decode + Lanczos resize on the same files, in the same run.
#   scripts/bench-prepare.sh            # ~30,000 images (1,000 ids), first run generates them
#   IDS=200 scripts/bench-prepare.sh    # smaller and quicker
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/python-env.sh)"
cargo build --release --quiet -p vireid
ids="${IDS:-1000}"
dir="${BENCH_DIR:-target/bench}/sysu-$ids"
if [ ! -f "$dir/exp/test_id.txt" ]; then
  echo "generating a synthetic SYSU-MM01 tree with $ids ids in $dir ..." >&2
  target/release/vireid synth --dataset sysu --out "$dir" --ids "$ids" --height 288 --width 144 --seed 1 >&2
fi
exec "$python" scripts/bench_prepare.py target/release/vireid "$dir"
