"""Measures whole processes: wall seconds and peak resident memory (GNU time) of each vireid
command's start-up, and of one SYSU-sized evaluation by vireid, fast-reid's Cython evaluator
and the reference's eval_sysu, in the same run (median of ROUNDS). Called by
scripts/bench-startup.sh.

usage: bench_startup.py MULTI_SHOT_FOLDER FASTREID_PYTHON RANK_CYLIB_FOLDER
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

folder, fr_python, cylib = sys.argv[1], sys.argv[2], sys.argv[3]
rounds = int(os.environ.get("ROUNDS", "5"))
vireid = "target/release/vireid"
case = os.path.join(os.path.dirname(folder), "metrics-3803x3010")


def peak_mb(argv):
    """Peak resident memory of `argv`, measured by GNU time (a small parent: a child forked
    from this Python process would report this process's memory as its own high-water mark)."""
    if not os.path.exists("/usr/bin/time"):
        return float("nan")
    out = os.path.join(case, "time")
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + argv, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return int(open(out).read().split()[-1]) / 1024.0


def run(argv):
    """(wall seconds, stdout) of one process."""
    start = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return wall, p.stdout


def median(argv):
    runs = [run(argv) for _ in range(rounds)]
    return statistics.median(r[0] for r in runs), peak_mb(argv), runs[-1][1]


# The case: trial 0 of the multi-shot folder as one distance matrix (smaller = closer).
if not os.path.exists(os.path.join(case, "dist.npy")):
    os.makedirs(case, exist_ok=True)
    load = lambda n: np.load(os.path.join(folder, n))
    q, g = load("query_pool.npy"), load("trial0_gallery_pool.npy")
    np.save(os.path.join(case, "dist.npy"), (-(q @ g.T)).astype(np.float32))
    for side, prefix in (("q", "query"), ("g", "trial0_gallery")):
        np.save(os.path.join(case, f"{side}_ids.npy"), load(f"{prefix}_ids.npy").astype(np.int64))
        np.save(os.path.join(case, f"{side}_cams.npy"), load(f"{prefix}_cams.npy").astype(np.int64))
f = lambda n: os.path.join(case, n)

print("start-up (vireid CMD --help, whole process; median of %d)" % rounds)
print(f"{'command':<12}{'wall ms':>10}{'peak MB':>10}")
for command in ["synth", "splits", "prepare", "metrics", "augment", "train", "test", "extract", "demo"]:
    wall, mb, _ = median([vireid, command, "--help"])
    print(f"{command:<12}{wall * 1000:>10.1f}{mb:>10.1f}")

ours_argv = [vireid, "metrics", "--distmat", f("dist.npy"), "--query-ids", f("q_ids.npy"),
             "--gallery-ids", f("g_ids.npy"), "--query-cams", f("q_cams.npy"),
             "--gallery-cams", f("g_cams.npy"), "--protocol", "sysu", "--json"]
fastreid = f"""
import sys, numpy as np
sys.path.insert(0, {cylib!r})
from rank_cy import evaluate_cy
l = lambda n: np.load({case!r} + "/" + n)
cmc, mAP, mINP = evaluate_cy(l("dist.npy"), l("q_ids.npy"), l("g_ids.npy"), l("q_cams.npy"),
                             l("g_cams.npy"), 20, False)
print(mAP)
"""
reference = f"""
import sys, numpy as np
sys.path.insert(0, "scripts")
from numpy_eval import sysu_metrics
l = lambda n: np.load({case!r} + "/" + n)
cmc, mAP, mINP = sysu_metrics(l("dist.npy"), l("q_ids.npy"), l("g_ids.npy"), l("q_cams.npy"), l("g_cams.npy"))
print(cmc[0], mAP)
"""
ours = median(ours_argv)
peer = median([fr_python, "-c", fastreid])
ref = median([sys.executable, "-c", reference])
mine = json.loads(ours[2])
ref_rank1, ref_map = map(float, ref[2].split())
print()
print("vireid metrics on 3803 x 3010 distances (SYSU-MM01 protocol), whole process; median of %d" % rounds)
print(f"{'':<48}{'wall s':>9}{'peak MB':>10}")
print(f"{'vireid metrics --distmat --json':<48}{ours[0]:>9.3f}{ours[1]:>10.1f}")
print(f"{'fast-reid evaluate_cy (Cython, fastreid 1.4.0)':<48}{peer[0]:>9.3f}{peer[1]:>10.1f}")
print(f"{'reference eval_sysu (numpy)':<48}{ref[0]:>9.3f}{ref[1]:>10.1f}")
print(f"vireid: {peer[0] / ours[0]:.2f}x fast-reid's whole process, {ref[0] / ours[0]:.1f}x the reference's "
      f"(vireid's evaluation itself: {mine['seconds']:.3f} s)")
print(f"same numbers as the reference: Rank-1 {mine['cmc'][0]:.6f} vs {ref_rank1:.6f}, "
      f"mAP {mine['mAP']:.6f} vs {ref_map:.6f} (fast-reid's protocol removes same-camera "
      f"matches instead of SYSU-MM01's camera-2 rule: its numbers differ by design)")
