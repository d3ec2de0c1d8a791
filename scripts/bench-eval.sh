#!/usr/bin/env bash
# Benchmark of the evaluation engine on a SYSU-MM01-sized run: 3803 queries, 10 trials, 2048-d
# pool and bn features, the four scores; single-shot (301 gallery images a trial) against the
# reference's way of evaluating (numpy restatement, scripts/numpy_eval.py) in the same run,
# and multi-shot (3010 gallery images a trial).
#   scripts/bench-eval.sh           # SKIP_MULTI=1 to leave out multi-shot
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/python-env.sh)"
cargo build --release --quiet -p vireid
dir="${BENCH_DIR:-target/bench}"
single="$dir/eval-sysu-single" multi="$dir/eval-sysu-multi"
[ -f "$single/trial9_gallery_pool.npy" ] || "$python" scripts/make_eval_features.py "$single" 1
exec "$python" - "$single" "$multi" <<'PY'
import json, os, subprocess, sys
single, multi = sys.argv[1], sys.argv[2]
def vireid(folder):
    out = subprocess.run(["target/release/vireid", "metrics", "--features", folder, "--protocol", "sysu", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)
ours = min((vireid(single) for _ in range(3)), key=lambda r: r["seconds"])
ref = json.loads(subprocess.run([sys.executable, "scripts/numpy_eval.py", single, "0.2"],
                                check=True, capture_output=True, text=True).stdout)
fused = [s for s in ours["scores"] if s["score"] == "fused"][0]["mean"]
print("SYSU-MM01-sized evaluation: 3803 queries x 301 gallery, 10 trials, 4 scores, 2048-d features")
print(f"{'':<40}{'total s':>10}{'metrics s':>11}")
print(f"{'reference way (numpy, float64)':<40}{ref['seconds']:>10.3f}{ref['seconds_metrics']:>11.3f}")
print(f"{'vireid':<40}{ours['seconds']:>10.3f}{ours['seconds_ranking']:>11.3f}")
print(f"speed-up: {ref['seconds'] / ours['seconds']:.1f}x in total, "
      f"{ref['seconds_metrics'] / ours['seconds_ranking']:.0f}x on ranking and metrics "
      f"(vireid's similarities: {ours['seconds_similarity']:.3f} s of SGEMM against "
      f"{ours['similarity_columns']} distinct gallery images of the 3010 the trials hold)")
print(f"same numbers: fused Rank-1 {fused['cmc'][0]:.6f} vs {ref['fused_rank1']:.6f}, "
      f"mAP {fused['mAP']:.6f} vs {ref['fused_mAP']:.6f}")
if os.environ.get("SKIP_MULTI") != "1":
    if not os.path.exists(os.path.join(multi, "trial9_gallery_pool.npy")):
        subprocess.run([sys.executable, "scripts/make_eval_features.py", multi, "10"], check=True)
    m = min((vireid(multi) for _ in range(2)), key=lambda r: r["seconds"])
    print(f"multi-shot (3803 x 3010, 10 trials, 4 scores): vireid {m['seconds']:.3f} s "
          f"({m['seconds_similarity']:.3f} s similarities against {m['similarity_columns']} distinct "
          f"gallery images of the 30100 the trials hold, {m['seconds_ranking']:.3f} s ranking and metrics)")
PY
