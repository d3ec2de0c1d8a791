"""Writes a SYSU-MM01-sized feature folder for `vireid metrics --features` (benchmarks).

usage: make_eval_features.py OUT [GALLERY_PER_TRIAL] [DIM] [TRIALS]
Query: 3803 infrared images of 96 ids (cameras 3 and 6); each trial's gallery: one (or ten)
visible image per id and camera (cameras 1, 2, 4, 5). Pool and bn features are L2-normalised
float32, near per-id centres so that the metrics are not trivial.
"""
import os
import sys

import numpy as np

out = sys.argv[1]
n_gallery = int(sys.argv[2]) if len(sys.argv) > 2 else 301
dim = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
trials = int(sys.argv[4]) if len(sys.argv) > 4 else 10
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)
n_ids, n_query = 96, 3803
centres = rng.normal(size=(2, n_ids, dim)).astype(np.float32)


def side(prefix, ids, cams):
    for k, name in enumerate(("pool", "bn")):
        x = centres[k][ids] + 10.0 * rng.normal(size=(len(ids), dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        np.save(f"{out}/{prefix}_{name}.npy", x.astype(np.float32))
    np.save(f"{out}/{prefix}_ids.npy", ids.astype(np.int64))
    np.save(f"{out}/{prefix}_cams.npy", cams.astype(np.int64))


q_ids = np.sort(rng.integers(0, n_ids, n_query))
side("query", q_ids, rng.choice([3, 6], n_query))
for t in range(trials):
    g_ids = np.resize(np.arange(n_ids), n_gallery)
    side(f"trial{t}_gallery", g_ids, rng.choice([1, 2, 4, 5], n_gallery))
