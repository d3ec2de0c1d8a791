"""The reference's way of evaluating a feature folder, restated in numpy for benchmarks:
float64 features, np.matmul per score, np.argsort of every row, then a Python loop over the
queries with the protocol's removal, np.unique for the distinct-id CMC, AP and INP (see
docs/reference-behaviour.md, Evaluation). Prints one JSON line: seconds (total), seconds_metrics, and the fused scores.

usage: numpy_eval.py FOLDER [ALPHA]
(`sysu_metrics` is also imported by bench_startup.py as the reference's eval_sysu.)
"""
import json
import os
import sys
import time

import numpy as np


def sysu_metrics(dist, q_ids, g_ids, q_cams, g_cams, max_rank=20):
    order = np.argsort(dist, axis=1)
    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for i in range(dist.shape[0]):
        ranked = order[i]
        keep = ~((q_cams[i] == 3) & (g_cams[ranked] == 2))
        ids = g_ids[ranked][keep]
        hits = (ids == q_ids[i]).astype(np.int32)
        if not hits.any():
            continue
        _, first = np.unique(ids, return_index=True)
        distinct = ids[np.sort(first)]
        cmc_sum += np.cumsum(distinct == q_ids[i])[:max_rank]
        positions = np.where(hits == 1)[0]
        aps.append(np.mean(np.arange(1, len(positions) + 1) / (positions + 1.0)))
        inps.append(len(positions) / (positions[-1] + 1.0))
    return cmc_sum / len(aps), float(np.mean(aps)), float(np.mean(inps))


def main():
    folder = sys.argv[1]
    alpha = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
    load = lambda name: np.load(os.path.join(folder, name))
    start = time.perf_counter()
    qp, qb = load("query_pool.npy").astype(np.float64), load("query_bn.npy").astype(np.float64)
    q_ids, q_cams = load("query_ids.npy"), load("query_cams.npy")
    trials = sorted(int(f[5:].split("_")[0]) for f in os.listdir(folder) if f.endswith("_gallery_pool.npy"))
    metric_seconds = 0.0
    fused = []
    for t in trials:
        gp = load(f"trial{t}_gallery_pool.npy").astype(np.float64)
        gb = load(f"trial{t}_gallery_bn.npy").astype(np.float64)
        g_ids, g_cams = load(f"trial{t}_gallery_ids.npy"), load(f"trial{t}_gallery_cams.npy")
        d1, d2 = qp @ gp.T, qb @ gb.T
        for d in (d1, d2, d1 + d2, (1 - alpha) * d1 + alpha * d2):
            m0 = time.perf_counter()
            result = sysu_metrics(-d, q_ids, g_ids, q_cams, g_cams)
            metric_seconds += time.perf_counter() - m0
        fused.append(result)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds,
        "seconds_metrics": metric_seconds,
        "fused_rank1": float(np.mean([f[0][0] for f in fused])),
        "fused_mAP": float(np.mean([f[1] for f in fused])),
    }))


if __name__ == "__main__":
    main()
