"""Writes a SYSU-MM01-sized feature folder for `vireid metrics --features` (benchmarks).

usage: make_eval_features.py OUT [SHOTS] [DIM] [TRIALS]
Query: 3803 infrared images of 96 ids (cameras 3 and 6). Gallery: as SYSU-MM01's, a fixed set
of images (301 id-camera pairs of the visible cameras 1, 2, 4, 5, with 15 to 30 images each:
~6,770 images, the real test set's 6,775) from which each trial draws SHOTS images a pair
(1: single-shot, 301 a trial; 10: multi-shot, 3010), so trials share images as they do on
the real data. Pool and bn features are L2-normalised float32, near per-id centres so that
the metrics are not trivial; an image has the same features in every trial it is drawn in.
"""
import os
import sys

import numpy as np

out = sys.argv[1]
shots = int(sys.argv[2]) if len(sys.argv) > 2 else 1
dim = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
trials = int(sys.argv[4]) if len(sys.argv) > 4 else 10
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
n_ids, n_query = 96, 3803
centres = rng.normal(size=(2, n_ids, dim)).astype(np.float32)


def features(ids):
    feats = []
    for k in range(2):
        x = centres[k][ids] + 10.0 * rng.normal(size=(len(ids), dim)).astype(np.float32)
        feats.append((x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32))
    return feats


def save(prefix, feats, ids, cams):
    for name, x in zip(("pool", "bn"), feats):
        np.save(f"{out}/{prefix}_{name}.npy", x)
    np.save(f"{out}/{prefix}_ids.npy", ids.astype(np.int64))
    np.save(f"{out}/{prefix}_cams.npy", cams.astype(np.int64))


q_ids = np.sort(rng.integers(0, n_ids, n_query))
save("query", features(q_ids), q_ids, rng.choice([3, 6], n_query))
pairs = np.sort(rng.choice(n_ids * 4, 301, replace=False))
pair_ids, pair_cams = pairs // 4, np.array([1, 2, 4, 5])[pairs % 4]
sizes = rng.integers(15, 31, len(pairs))
start = np.concatenate(([0], np.cumsum(sizes)[:-1]))
image_pair = np.repeat(np.arange(len(pairs)), sizes)
pool, bn = features(pair_ids[image_pair])
for t in range(trials):
    rows = np.concatenate([s + rng.choice(n, shots, replace=False) for s, n in zip(start, sizes)])
    save(f"trial{t}_gallery", (pool[rows], bn[rows]), pair_ids[image_pair[rows]], pair_cams[image_pair[rows]])
