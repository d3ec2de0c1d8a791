#!/usr/bin/env bash
# Runs vireid, building it first (release) with everything it needs.
#   ./run.sh                 the main job: `vireid demo` once it exists; until then a synthetic
#                            SYSU-MM01 tree, its evaluation splits, its training cache and a
#                            picture of the training augmentation
#   ./run.sh SUBCOMMAND ...  any vireid subcommand, e.g. ./run.sh splits --help
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet -p vireid
bin=target/release/vireid
if [ $# -gt 0 ]; then
  exec "$bin" "$@"
fi
out=runs/quickstart
echo "== vireid synth: a synthetic SYSU-MM01 tree in $out/sysu"
"$bin" synth --dataset sysu --out "$out/sysu" --ids 96 --seed 0
echo "== vireid splits: the all-search single-shot protocol, 10 trials"
"$bin" splits --dataset sysu --root "$out/sysu"
echo "== vireid prepare: the 384 x 192 training cache (reference file names)"
"$bin" prepare --dataset sysu --root "$out/sysu"
echo "== vireid augment: what the SYSU-MM01 training pipeline does to one image"
first_image=$(find "$out/sysu/cam1" -name '*.jpg' | sort | head -n 1)
"$bin" augment --dataset sysu --input "$first_image" --n 6 --out "$out/augment.png"
