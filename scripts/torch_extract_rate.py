"""PyTorch's side of scripts/bench-extract.sh: the reference network's evaluation forward (the
parity oracle of crates/vireid-nn, which equals the reference's model.py bit for bit) over the
same batch, flip included, in batches of --batch; prints images/s as JSON."""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "vireid-nn", "tests", "oracle"))
import reference_net  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--checkpoint", required=True)
ap.add_argument("--input", required=True)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
sd = torch.load(a.checkpoint)["net"]
x = torch.from_numpy(np.load(a.input))
start = time.time()
with torch.no_grad():
    for i in range(0, x.shape[0], a.batch):
        b = x[i:i + a.batch]
        flipped = b.index_select(3, torch.arange(b.size(3) - 1, -1, -1).long())
        p1, f1 = reference_net.forward_eval(b, sd, 50, True, "visible")
        p2, f2 = reference_net.forward_eval(flipped, sd, 50, True, "visible")
        _ = (p1 + p2).numpy(), (f1 + f2).numpy()
seconds = time.time() - start
print(json.dumps({"images": int(x.shape[0]), "seconds": seconds, "images_per_second": x.shape[0] / seconds}))
