"""PyTorch's side of scripts/bench-train.sh: seconds per training step of the reference
network (the parity oracle's training forward, losses and torch.optim.SGD with the two
groups), same sizes and threads as vireid-nn's step_time example. Prints JSON."""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "vireid-nn", "tests", "oracle"))
import reference_net as rn  # noqa: E402
import reference_step as rs  # noqa: E402

b, k, h, w, steps, threads = (int(x) for x in (sys.argv[1:] + ["2", "2", "384", "192", "5", "2"][len(sys.argv) - 1:]))
torch.set_num_threads(threads)
# REFERENCE_CACHE_DIR=DIR holds the SYSU training cache in memory the way the reference's data
# loader does (np.load of both image arrays, kept for the whole run): scripts/bench-memory.sh.
cache = [np.load(os.path.join(os.environ["REFERENCE_CACHE_DIR"], f"train_{m}_resized_img192.npy"))
         for m in ("rgb", "ir")] if os.environ.get("REFERENCE_CACHE_DIR") else []
torch.manual_seed(0)
sd = {kk: v.clone() for kk, v in rn.build_state(50, 2048, 395, 0).items()}
names = [kk for kk in sd if kk.startswith(("visible_module.visible.conv1", "visible_module.visible.bn1",
                                             "thermal_module.thermal.conv1", "thermal_module.thermal.bn1",
                                             "base_resnet.base.layer", "bottleneck", "classifier"))
         and "running" not in kk and "num_batches" not in kk and not (kk.startswith("bottleneck") and kk.endswith("bias"))]
for kk in names:
    sd[kk].requires_grad_(True)
heads = [sd[kk] for kk in names if kk.startswith(("bottleneck", "classifier"))]
backbone = [sd[kk] for kk in names if not kk.startswith(("bottleneck", "classifier"))]
opt = torch.optim.SGD([{"params": backbone, "lr": 0.001}, {"params": heads, "lr": 0.01}],
                      weight_decay=5e-4, momentum=0.9, nesterov=True)
n = b * k
xv, xt = torch.randn(n, 3, h, w), torch.randn(n, 3, h, w)
lab = torch.arange(b).repeat_interleave(k)
labels = torch.cat((lab, lab))


def step():
    pooled, logits = rs.forward_train(xv, xt, sd, 50, True)
    ce = [F.cross_entropy(lg, labels) for lg in logits]
    tri = [rs.triplet(p, labels) for p in pooled]
    loss = (ce[0] + ce[1] + ce[2]) / 3 + ce[3] + (tri[0] + tri[1] + tri[2]) / 3 + tri[3]
    opt.zero_grad()
    loss.backward()
    opt.step()


step()
start = time.time()
for _ in range(steps):
    step()
print(json.dumps({"images": 2 * n, "cache_bytes": sum(c.nbytes for c in cache), "seconds_per_step": (time.time() - start) / steps}))
