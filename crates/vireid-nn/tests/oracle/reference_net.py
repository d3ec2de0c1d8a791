"""PyTorch statement of docs/reference-behaviour.md (Network)'s evaluation forward, used as the parity oracle.

Writes, into --out:
  ref.t              a checkpoint in the reference's format: torch.save({'net': state_dict,
                     'epoch', 'mAP', 'mINP'}), with every key the reference's embed_net has
                     (the unused middle_module ResNet, the stem copies' layers, the shared
                     copy's stem, num_batches_tracked), random but seeded values, and random
                     BatchNorm statistics so that evaluation-mode BN is not the identity;
  input.npy          float32 N x 3 x H x W;
  {modality}_{flip}_{pool,bn}.npy  the features the reference's forward gives, flip 0/1.

The forward is written with torch.nn.functional from docs/reference-behaviour.md, not taken from the reference;
it was checked once against the reference's own model.py (see the issue notes).
"""
import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F

BLOCKS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}


def resnet_shapes(depth):
    """(key, shape) of a torchvision-layout ResNet without fc, in order."""
    bottleneck = depth == 50
    exp = 4 if bottleneck else 1
    out = [("conv1.weight", (64, 3, 7, 7))] + bn_shapes("bn1", 64)
    cin = 64
    for i, n in enumerate(BLOCKS[depth]):
        planes = 64 << i
        for b in range(n):
            p = f"layer{i + 1}.{b}"
            stride = 2 if (b == 0 and i in (1, 2)) else 1
            if bottleneck:
                convs = [(cin, planes, 1), (planes, planes, 3), (planes, planes * 4, 1)]
            else:
                convs = [(cin, planes, 3), (planes, planes, 3)]
            for j, (ci, co, k) in enumerate(convs):
                out.append((f"{p}.conv{j + 1}.weight", (co, ci, k, k)))
                out += bn_shapes(f"{p}.bn{j + 1}", co)
            if b == 0 and (stride != 1 or cin != planes * exp):
                out.append((f"{p}.downsample.0.weight", (planes * exp, cin, 1, 1)))
                out += bn_shapes(f"{p}.downsample.1", planes * exp)
            cin = planes * exp
    return out


def bn_shapes(p, n):
    return [(f"{p}.{k}", (n,)) for k in ("weight", "bias", "running_mean", "running_var")] + [
        (f"{p}.num_batches_tracked", ())
    ]


def value(key, shape, g):
    if key.endswith("num_batches_tracked"):
        return torch.tensor(7, dtype=torch.int64)
    if key.endswith("running_var") or key.endswith(".weight") and len(shape) == 1:
        return torch.rand(shape, generator=g) + 0.5
    if len(shape) == 1:  # bias, running_mean
        return torch.randn(shape, generator=g) * 0.1
    if len(shape) == 4:
        n = shape[1] * shape[2] * shape[3]
        return torch.randn(shape, generator=g) * (2.0 / n) ** 0.5
    return torch.randn(shape, generator=g) * 0.01  # classifiers


def build_state(depth, width, classes, seed):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    base = {k: value(k, s, g) for k, s in resnet_shapes(depth)}
    vis = {k: value(k, s, g) for k, s in resnet_shapes(depth) if not k.startswith("layer")}
    thr = {k: value(k, s, g) for k, s in resnet_shapes(depth) if not k.startswith("layer")}
    for k, _ in resnet_shapes(depth):
        # The tensors the network does not use share storage with used ones, which keeps the
        # file small; the key set is still exactly the reference's.
        sd[f"visible_module.visible.{k}"] = vis.get(k, base[k])
        sd[f"thermal_module.thermal.{k}"] = thr.get(k, base[k])
        sd[f"middle_module.middle.{k}"] = base[k]
        sd[f"base_resnet.base.{k}"] = base[k] if k.startswith("layer") else vis[k]
    for p in ("1", "2", "3", "g"):
        for k, s in bn_shapes(f"bottleneck{p}", width):
            sd[k] = value(k, s, g)
        sd[f"classifier{p}.weight"] = value("classifier", (classes, width), g)
    return sd


def bn(x, sd, p):
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                        sd[p + ".bias"], training=False, momentum=0.1, eps=1e-5)


def unit(x, sd, p, bottleneck, stride):
    n = 3 if bottleneck else 2
    out = x
    for j in range(1, n + 1):
        w = sd[f"{p}.conv{j}.weight"]
        k = w.shape[-1]
        s = stride if (j == 2 if bottleneck else j == 1) else 1
        out = bn(F.conv2d(out, w, stride=s, padding=k // 2), sd, f"{p}.bn{j}")
        if j < n:
            out = F.relu_(out)
    if f"{p}.downsample.0.weight" in sd:
        short = bn(F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride), sd, f"{p}.downsample.1")
    else:
        short = x
    out += short
    return F.relu_(out)


def forward_eval(x, sd, depth, layer4, modality):
    stem = "visible_module.visible" if modality == "visible" else "thermal_module.thermal"
    x = F.conv2d(x, sd[f"{stem}.conv1.weight"], stride=2, padding=3)
    x = F.max_pool2d(F.relu_(bn(x, sd, f"{stem}.bn1")), 3, 2, 1)
    for i, n in enumerate(BLOCKS[depth][: 4 if layer4 else 3]):
        for b in range(n):
            stride = 2 if (b == 0 and i in (1, 2)) else 1
            x = unit(x, sd, f"base_resnet.base.layer{i + 1}.{b}", depth == 50, stride)
    parts = [F.adaptive_avg_pool2d(c, 1).flatten(1) for c in torch.chunk(x, 3, 2)]
    parts.append(F.adaptive_avg_pool2d(x, 1).flatten(1))
    feats = [bn(p, sd, f"bottleneck{n}") for p, n in zip(parts, ("1", "2", "3", "g"))]
    l2 = lambda t: t / t.pow(2).sum(1, keepdim=True).pow(0.5)
    return l2(torch.cat(parts, 1)), l2(torch.cat(feats, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--dataset", default="sysu")
    ap.add_argument("--classes", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--height", type=int, default=112)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--torchvision", help="instead: write an ImageNet-style torchvision state "
                    "dict (conv1, bn1, layer1..4, fc) of --depth to this file and stop")
    a = ap.parse_args()
    if a.torchvision:
        g = torch.Generator().manual_seed(a.seed)
        sd = {k: value(k, s, g) for k, s in resnet_shapes(a.depth)}
        feat = 2048 if a.depth == 50 else 512
        sd["fc.weight"] = torch.randn((1000, feat), generator=g) * 0.01
        sd["fc.bias"] = torch.zeros(1000)
        torch.save(sd, a.torchvision)
        return
    torch.set_num_threads(2)
    exp = 4 if a.depth == 50 else 1
    layer4 = a.dataset != "regdb"
    width = (512 if layer4 else 256) * exp
    sd = build_state(a.depth, width, a.classes, a.seed)
    os.makedirs(a.out, exist_ok=True)
    torch.save({"net": sd, "epoch": 3, "mAP": 0.5, "mINP": 0.25}, os.path.join(a.out, "ref.t"))
    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.randn((a.n, 3, a.height, a.width), generator=g)
    np.save(os.path.join(a.out, "input.npy"), x.numpy())
    with torch.no_grad():
        for modality in ("visible", "thermal"):
            for flip in (0, 1):
                pool, feat = forward_eval(x, sd, a.depth, layer4, modality)
                if flip:
                    p2, f2 = forward_eval(torch.flip(x, [3]), sd, a.depth, layer4, modality)
                    pool, feat = pool + p2, feat + f2
                np.save(os.path.join(a.out, f"{modality}_{flip}_pool.npy"), pool.numpy())
                np.save(os.path.join(a.out, f"{modality}_{flip}_bn.npy"), feat.numpy())


if __name__ == "__main__":
    main()
