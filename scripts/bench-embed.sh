#!/usr/bin/env bash
# `vireid embed` beside ONNX Runtime, in one run, on the same machine and threads: ResNet-50
# (SYSU width) at 384 x 192, no flip, the reference network on a reference checkpoint.
#   - ONNX Runtime (the network exported from PyTorch) and PyTorch eager: network only, on a
#     batch Pillow prepared beforehand (scripts/ort_embed_rate.py); vireid's network only on
#     the same batch (the fold_rate example, folded and fused as embed runs it);
#   - vireid embed: end to end from the JPEG files (decoding and resizing overlapped with the
#     network), its marginal rate from two runs (1 image and IMAGES images), and its fixed
#     cost (start-up and loading) from a .t and from the same weights as safetensors.
# onnxruntime, onnx and safetensors are installed (once) into runs/bench-embed/py, not .venv.
#   scripts/bench-embed.sh [IMAGES (default 64)] [THREADS (default 2)]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-64}"
threads="${2:-2}"
py="$(scripts/python-env.sh)"
cargo build --release -q -p vireid
dir=runs/bench-embed
mkdir -p "$dir"
if [ ! -f "$dir/py/.done" ]; then
  "$py" -m pip install --quiet --disable-pip-version-check --target "$dir/py" onnxruntime onnx safetensors >&2
  touch "$dir/py/.done"
fi
export PYTHONPATH="$PWD/$dir/py${PYTHONPATH:+:$PYTHONPATH}"
if [ ! -f "$dir/ref.t" ]; then
  "$py" crates/vireid-nn/tests/oracle/reference_net.py --out "$dir" --depth 50 --dataset sysu \
    --classes 395 --n 1 --height 32 --width 16 >/dev/null
  # The weights a vireid checkpoint holds: the reference's file less what the network does
  # not use (the middle_module copy, the stem copies' layers, the shared copy's own stem,
  # num_batches_tracked).
  "$py" -c "import re, sys, torch; from safetensors.torch import save_file
sd = torch.load(sys.argv[1])['net']
unused = re.compile(r'^(middle_module\.|(visible_module\.visible|thermal_module\.thermal)\.(layer|fc)|base_resnet\.base\.(conv1|bn1|fc)\.)|num_batches_tracked$')
save_file({k: v.clone().contiguous() for k, v in sd.items() if not unused.search(k)}, sys.argv[2])" \
    "$dir/ref.t" "$dir/ref.safetensors"
fi
# JPEG camera-crop stand-ins at a typical re-ID size, and the batch Pillow makes of them.
"$py" - "$dir/images" "$n" "$dir/batch.npy" <<'PY'
import os, sys, numpy as np
from PIL import Image
d, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(0)
mean, std = np.array([0.485, 0.456, 0.406], 'f4'), np.array([0.229, 0.224, 0.225], 'f4')
batch = []
for i in range(n):
    p = f"{d}/{i:05d}.jpg"
    if not os.path.exists(p):
        y, x = np.mgrid[0:256, 0:128]
        img = np.stack([(x * 2 + i) % 256, (y + 3 * i) % 256, (x + y) % 256], -1) + rng.integers(0, 30, (256, 128, 3))
        Image.fromarray(img.clip(0, 255).astype('uint8')).save(p, quality=90)
    im = Image.open(p).convert('RGB').resize((192, 384), Image.LANCZOS)
    batch.append(((np.asarray(im, 'f4') / 255 - mean) / std).transpose(2, 0, 1))
np.save(out, np.stack(batch).astype('f4'))
PY
ort_json="$("$py" scripts/ort_embed_rate.py --checkpoint "$dir/ref.t" --input "$dir/batch.npy" --onnx "$dir/ref.onnx" --threads "$threads")"
# vireid's network alone on the same batch (batches of 16, embed's CPU default; as loaded,
# folded, fused: fold_rate's JSON), beside ONNX Runtime's network-only figure.
cargo build --release -q -p vireid-engine --example fold_rate
net_json="$(FOLD_RATE_INPUT="$dir/batch.npy" target/release/examples/fold_rate "$dir/ref.safetensors" 16 3 "$threads")"
mkdir -p "$dir/one" && cp "$dir/images/00000.jpg" "$dir/one/"
embed() { # CHECKPOINT IMAGES -> JSON summary
  target/release/vireid embed "$2" --checkpoint "$1" --modality visible --height 384 --width 192 \
    --no-flip --threads "$threads" --device cpu --out "$dir/out.safetensors" --json
}
wall() { # "START END" wall-clock seconds of a whole command
  local t0=$EPOCHREALTIME; "$@" >/dev/null; echo "$t0 $EPOCHREALTIME"
}
one_t=$(wall embed "$dir/ref.t" "$dir/one")
one_st=$(wall embed "$dir/ref.safetensors" "$dir/one")
all_st=$(wall embed "$dir/ref.safetensors" "$dir/images")
"$py" - "$ort_json" "$net_json" "$n" "$one_t" "$one_st" "$all_st" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
net = json.loads(sys.argv[2])
n = int(sys.argv[3])
one_t, one_st, all_st = (float(b) - float(a) for a, b in (w.split() for w in sys.argv[4:]))
# A 1-image run is the fixed cost plus one image's share.
per_image = (all_st - one_st) / (n - 1)
fixed_st, fixed_t = one_st - per_image, one_t - per_image
print(f"ResNet-50, 384 x 192, no flip, {n} images")
print(f"ONNX Runtime {o['onnxruntime']} (network only):     {o['ort_images_per_second']:6.2f} images/s")
print(f"PyTorch eager (network only):          {o['eager_images_per_second']:6.2f} images/s")
print(f"vireid network only (folded + fused, batch 16): {net['fused_images_per_second']:6.2f} images/s"
      f"  = {net['fused_images_per_second'] / o['ort_images_per_second']:.3f}x ONNX Runtime's rate")
print(f"vireid embed (from JPEG files), marginal: {1 / per_image:6.2f} images/s"
      f"  = {o['ort_images_per_second'] * per_image:.3f}x ONNX Runtime's time a image")
print(f"vireid embed fixed cost: {fixed_st:.2f} s from safetensors, {fixed_t:.2f} s from the .t")
print(f"(ONNX vs eager features: largest pool difference {o['max_pool_difference']:.1e})")
PY
