#!/usr/bin/env bash
# Exact search at scale (vireid search's engine): queries/s and peak memory for synthetic
# galleries of 10k, 100k and 1M images (pool and bn, 2048 dimensions each), top 10, fused
# score; one process a size. A size whose two float32 matrices would not fit in the memory
# available now (with 2 GB to spare) is skipped with a note.
# Then the approximate index (vireid search --index hnsw) against the exact search on galleries
# of people seen 8 times each: build time, queries/s of both, recall@10 (INDEX_SIZES, default
# 10000 100000; each size's index is built once on all cores; EF, default "40 200", the
# candidates per query, a row each).
#   scripts/bench-search.sh [SIZES...]      # default 10000 100000 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p vireid-eval --example search_scale --example search_index
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
printf '%-10s %8s %14s %12s %10s\n' gallery queries "1 query (s)" "queries/s" "peak MB"
for n in "${sizes[@]}"; do
  need_mb=$(( 2 * n * 2048 * 4 / 1048576 + 2048 ))
  avail_mb=$(( $(awk '/MemAvailable/ { print $2 }' /proc/meminfo) / 1024 ))
  if [ "$need_mb" -gt "$avail_mb" ]; then
    printf '%-10s skipped: needs about %d MB, %d MB available\n' "$n" "$need_mb" "$avail_mb"
    continue
  fi
  q=256; [ "$n" -ge 1000000 ] && q=64
  target/release/examples/search_scale "$n" "$q" 2048
done
echo
printf '%-10s %9s %5s %12s %12s %10s %10s\n' gallery "build (s)" ef "exact q/s" "hnsw q/s" recall@10 "peak MB"
for n in ${INDEX_SIZES:-10000 100000}; do
  need_mb=$(( 4 * n * 2048 * 4 / 1048576 + 2048 ))
  avail_mb=$(( $(awk '/MemAvailable/ { print $2 }' /proc/meminfo) / 1024 ))
  if [ "$need_mb" -gt "$avail_mb" ]; then
    printf '%-10s skipped: needs about %d MB, %d MB available\n' "$n" "$need_mb" "$avail_mb"
    continue
  fi
  target/release/examples/search_index "$n" 256 2048 ${EF:-40 200}
done
