"""An independent statement of the SYSU-MM01 / LLCM / RegDB split rules (docs/reference-behaviour.md, Datasets),
written with CPython's own `random`, to check vireid's lists on trees for which no reference
output is committed (synthetic trees, multi-shot galleries).

usage: splits.py DATASET ROOT MODE SHOT DIRECTION TRIAL [TRIAL ...]
"""
import json
import os
import random
import sys

dataset, root, mode, shot, direction = sys.argv[1:6]
trials = [int(t) for t in sys.argv[6:]]


def ids_of(rel):
    with open(os.path.join(root, rel)) as f:
        return ["%04d" % int(x) for x in f.read().splitlines()[0].split(",")]


def groups(ids, cams):
    out = []
    for pid in sorted(ids):
        for folder, cam in cams:
            d = os.path.join(root, folder, pid)
            if os.path.isdir(d):
                out.append((int(pid), cam, ["%s/%s/%s" % (folder, pid, f) for f in sorted(os.listdir(d))]))
    return out


def entry(path, pid, cam):
    return {"path": path, "id": pid, "cam": cam}


def gallery(gs, trial):
    random.seed(trial)
    out = []
    for pid, cam, files in gs:
        if shot == "single":
            out.append(entry(random.choice(files), pid, cam))
        elif len(files) >= 10:
            out.extend(entry(f, pid, cam) for f in random.sample(files, 10))
        else:
            out.extend(entry(f, pid, cam) for f in files)
    return out


if dataset == "regdb":
    def listed(kind, trial, cam):
        with open(os.path.join(root, "idx", "test_%s_%d.txt" % (kind, trial))) as f:
            return [entry(l.split(" ")[0], int(l.split(" ")[1]), cam) for l in f.read().splitlines() if l]
    result = {"query": None, "trials": []}
    for t in trials:
        v, th = listed("visible", t, 1), listed("thermal", t, 2)
        q, g = (v, th) if direction == "v2t" else (th, v)
        result["trials"].append({"trial": t, "query": q, "gallery": g})
else:
    if dataset == "sysu":
        ids = ids_of("exp/test_id.txt")
        vis = [("cam%d" % c, c) for c in ([1, 2, 4, 5] if mode == "all" else [1, 2])]
        query_cams, gallery_cams = [("cam3", 3), ("cam6", 6)], vis
    else:
        ids = ids_of("idx/test_id.txt")
        vis = [("test_vis/cam%d" % c, c) for c in range(1, 10)]
        nir = [("test_nir/cam%d" % c, c) for c in [1, 2, 4, 5, 6, 7, 8, 9]]
        query_cams, gallery_cams = (vis, nir) if direction == "v2i" else (nir, vis)
    query = [entry(f, pid, cam) for pid, cam, files in groups(ids, query_cams) for f in files]
    gs = groups(ids, gallery_cams)
    result = {"query": query, "trials": [{"trial": t, "gallery": gallery(gs, t)} for t in trials]}
print(json.dumps(result))
