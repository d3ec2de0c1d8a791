"""Pillow's rate at the work `vireid prepare` does, on the same files: open, Lanczos
(ANTIALIAS) resize to W x H, to a numpy array, as the reference's pre_process_sysu.py does.
One thread. Prints one JSON line.

usage: pillow_prepare_rate.py SYSU_ROOT HEIGHT WIDTH [LIMIT]
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image

root, height, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
limit = int(sys.argv[4]) if len(sys.argv) > 4 else None


def ids(name):
    with open(os.path.join(root, "exp", name)) as f:
        return ["%04d" % int(x) for x in f.read().splitlines()[0].split(",")]


files = []
for pid in sorted(ids("train_id.txt") + ids("val_id.txt")):
    for cam in ["cam1", "cam2", "cam4", "cam5", "cam3", "cam6"]:
        d = os.path.join(root, cam, pid)
        if os.path.isdir(d):
            files.extend(os.path.join(d, f) for f in sorted(os.listdir(d)))
files = files[:limit]
start = time.perf_counter()
total = 0
for path in files:
    img = Image.open(path).resize((width, height), Image.LANCZOS)
    total += np.asarray(img).shape[0]
seconds = time.perf_counter() - start
print(json.dumps({"images": len(files), "seconds": seconds, "images_per_second": len(files) / seconds}))
