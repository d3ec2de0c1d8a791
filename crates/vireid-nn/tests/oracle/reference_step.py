"""PyTorch statement of docs/reference-behaviour.md (Sampler to Optimisation) for training steps, used as the parity oracle.

From a reference-format checkpoint (reference_net.build_state) and fixed batches (B ids x K
visible + K thermal images each, augmentation off), runs --steps SGD steps of the training
forward (BatchNorm in training mode, running statistics updated), the losses (CE on the four
classifiers, batch-hard triplet on the four pooled features) and torch.optim.SGD with the
reference's two groups, momentum 0.9, Nesterov, weight decay 5e-4. Writes into --out:
  ref.t                      the starting checkpoint;
  step{i}_{visible,thermal}.npy, step{i}_labels.npy   the batches;
  losses.json                [{"total", "identity", "triplet"}] per step;
  after.t                    {'net': state_dict} after the last step.
Checked once against the reference's own model.py, loss.py and train.py optimiser set-up.
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

import reference_net as rn


def forward_train(xv, xt, sd, depth, layer4):
    def stem(x, name):
        x = F.conv2d(x, sd[f"{name}.conv1.weight"], stride=2, padding=3)
        x = bn_train(x, f"{name}.bn1")
        return F.max_pool2d(F.relu(x), 3, 2, 1)

    def bn_train(x, p):
        return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], training=True, momentum=0.1, eps=1e-5)

    def unit(x, p, stride):
        bottleneck = depth == 50
        n = 3 if bottleneck else 2
        out = x
        for j in range(1, n + 1):
            w = sd[f"{p}.conv{j}.weight"]
            s = stride if (j == 2 if bottleneck else j == 1) else 1
            out = bn_train(F.conv2d(out, w, stride=s, padding=w.shape[-1] // 2), f"{p}.bn{j}")
            if j < n:
                out = F.relu(out)
        if f"{p}.downsample.0.weight" in sd:
            short = bn_train(F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1")
        else:
            short = x
        return F.relu(out + short)

    x = torch.cat((stem(xv, "visible_module.visible"), stem(xt, "thermal_module.thermal")), 0)
    for i, n in enumerate(rn.BLOCKS[depth][: 4 if layer4 else 3]):
        for b in range(n):
            x = unit(x, f"base_resnet.base.layer{i + 1}.{b}", 2 if (b == 0 and i in (1, 2)) else 1)
    pooled = [F.adaptive_avg_pool2d(c, 1).flatten(1) for c in torch.chunk(x, 3, 2)]
    pooled.append(F.adaptive_avg_pool2d(x, 1).flatten(1))
    logits = []
    for p, name in zip(pooled, ("1", "2", "3", "g")):
        f = bn_train(p, f"bottleneck{name}")
        logits.append(F.linear(f, sd[f"classifier{name}.weight"]))
    return pooled, logits


def triplet(x, labels, margin=0.3):
    n = x.size(0)
    dist = torch.pow(x, 2).sum(dim=1, keepdim=True).expand(n, n)
    dist = dist + dist.t()
    dist = torch.addmm(dist, x, x.t(), beta=1, alpha=-2)
    dist = dist.clamp(min=1e-12).sqrt()
    mask = labels.expand(n, n).eq(labels.expand(n, n).t())
    ap = torch.cat([dist[i][mask[i]].max().unsqueeze(0) for i in range(n)])
    an = torch.cat([dist[i][mask[i] == 0].min().unsqueeze(0) for i in range(n)])
    return F.margin_ranking_loss(an, ap, torch.ones_like(an), margin=margin)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--dataset", default="sysu")
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--ids", type=int, default=2)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--height", type=int, default=96)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(2)
    exp = 4 if a.depth == 50 else 1
    layer4 = a.dataset != "regdb"
    width = (512 if layer4 else 256) * exp
    sd = rn.build_state(a.depth, width, a.classes, a.seed)
    # The reference initialises BNNeck biases to 0 and never trains them.
    for p in ("1", "2", "3", "g"):
        sd[f"bottleneck{p}.bias"] = torch.zeros(width)
    os.makedirs(a.out, exist_ok=True)
    torch.save({"net": sd, "epoch": 0}, os.path.join(a.out, "ref.t"))
    # Unshare storages so that each parameter is its own leaf.
    sd = {k: v.clone() for k, v in sd.items()}
    used = set()
    def is_param(k):
        if k.startswith("middle_module.") or "running_" in k or k.endswith("num_batches_tracked"):
            return False
        if k.startswith(("visible_module.visible.layer", "thermal_module.thermal.layer")):
            return False
        if k.startswith(("base_resnet.base.conv1", "base_resnet.base.bn1")):
            return False
        if not layer4 and k.startswith("base_resnet.base.layer4"):
            return False
        if k.startswith("bottleneck") and k.endswith(".bias"):
            return False
        return True
    names = [k for k in sd if is_param(k)]
    for k in names:
        sd[k].requires_grad_(True)
    heads = [sd[k] for k in names if k.startswith(("bottleneck", "classifier"))]
    backbone = [sd[k] for k in names if not k.startswith(("bottleneck", "classifier"))]
    opt = torch.optim.SGD([{"params": backbone, "lr": 0.1 * a.lr}, {"params": heads, "lr": a.lr}],
                          weight_decay=5e-4, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(a.seed + 7)
    losses = []
    for step in range(a.steps):
        n = a.ids * a.k
        xv = torch.randn((n, 3, a.height, a.width), generator=g)
        xt = torch.randn((n, 3, a.height, a.width), generator=g)
        ids = torch.randperm(a.classes, generator=g)[: a.ids]
        lab = ids.repeat_interleave(a.k)
        labels = torch.cat((lab, lab))
        np.save(os.path.join(a.out, f"step{step}_visible.npy"), xv.numpy())
        np.save(os.path.join(a.out, f"step{step}_thermal.npy"), xt.numpy())
        np.save(os.path.join(a.out, f"step{step}_labels.npy"), labels.numpy())
        pooled, logits = forward_train(xv, xt, sd, a.depth, layer4)
        ce = [F.cross_entropy(l, labels) for l in logits]
        tri = [triplet(p, labels) for p in pooled]
        identity = (ce[0] + ce[1] + ce[2]) / 3 + ce[3]
        trip = (tri[0] + tri[1] + tri[2]) / 3 + tri[3]
        loss = identity + trip
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append({"total": loss.item(), "identity": identity.item(), "triplet": trip.item()})
    with open(os.path.join(a.out, "losses.json"), "w") as f:
        json.dump(losses, f)
    torch.save({"net": {k: v.detach() for k, v in sd.items()}}, os.path.join(a.out, "after.t"))


if __name__ == "__main__":
    main()
