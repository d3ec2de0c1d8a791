"""ONNX Runtime's side of scripts/bench-embed.sh: the reference network's evaluation forward
(crates/vireid-nn's oracle, equal to the reference's model.py) exported to ONNX and run by
onnxruntime on a batch of images that Pillow decoded and resized beforehand, no flip, batches
of --batch, --threads intra-op threads. Also PyTorch eager on the same batch. Prints JSON:
images/s of each (network only: decoding is not timed), and their largest feature difference."""
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
ap.add_argument("--input", required=True, help="float32 N x 3 x H x W, normalised")
ap.add_argument("--onnx", required=True, help="where to write (or find) the exported model")
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
sd = torch.load(a.checkpoint)["net"]
x = np.load(a.input)


class Net(torch.nn.Module):
    def forward(self, images):
        return reference_net.forward_eval(images, sd, 50, True, "visible")


net = Net().eval()
if not os.path.exists(a.onnx):
    with torch.no_grad():
        torch.onnx.export(net, (torch.from_numpy(x[:2]),), a.onnx, input_names=["images"],
                          output_names=["pool", "bn"], dynamic_axes={"images": {0: "n"}},
                          opset_version=17, dynamo=False)

import onnxruntime as ort  # noqa: E402

options = ort.SessionOptions()
options.intra_op_num_threads = a.threads
options.inter_op_num_threads = 1
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(a.onnx, options, providers=["CPUExecutionProvider"])


def rate(run):
    run(x[: min(4, len(x))])  # warm-up
    start = time.time()
    outs = [run(x[i:i + a.batch]) for i in range(0, len(x), a.batch)]
    return len(x) / (time.time() - start), np.concatenate([o[0] for o in outs])


ort_rate, ort_pool = rate(lambda b: session.run(None, {"images": b}))
with torch.no_grad():
    eager_rate, eager_pool = rate(lambda b: [t.numpy() for t in net(torch.from_numpy(b))])
print(json.dumps({
    "onnxruntime": ort.__version__,
    "ort_images_per_second": ort_rate,
    "eager_images_per_second": eager_rate,
    "max_pool_difference": float(np.abs(ort_pool - eager_pool).max()),
}))
