#!/usr/bin/env bash
# The GPU check: one command on a machine with a CUDA GPU and PyTorch (so libtorch), but
# possibly no Rust toolchain and no network, given vireid's two executables built elsewhere
# against that machine's torch version (README, "A GPU machine"). Prints one table:
#   - the GPU libtorch sees, and that vireid loaded libtorch_cuda (`vireid env`);
#   - extract parity: features of one synthetic batch on the GPU against the CPU (TF32 off);
#   - fp32 training: a short run on the GPU against the same run on the CPU (final weights);
#   - mixed precision: the same run under AMP, finite and close to fp32;
#   - speed: training images/s at batch 48 (6 x 4 x 2) at 384 x 192, ResNet-50, fp32 and
#     AMP, with the seconds the steps waited for batches;
#   - the 10-trial test on a SYSU-MM01-sized synthetic test set: its time.
# Without a visible GPU it says so and exits with status 2. Under 10 minutes on one GPU.
#   scripts/gpu-check.sh [BIN_DIR]     # BIN_DIR holds vireid and vireid-torch (target/release)
# Environment: PYTHON (default python3, with torch and numpy), OUT (default /tmp/vireid-gpu-check).
set -euo pipefail
bin="$(cd "${1:-$(dirname "$0")/../target/release}" && pwd)"
py="${PYTHON:-python3}"
out="${OUT:-/tmp/vireid-gpu-check}"
vireid="$bin/vireid"
[ -x "$vireid" ] && [ -x "$bin/vireid-torch" ] || {
  echo "error: $bin must hold the vireid and vireid-torch executables" >&2
  exit 1
}
# The executables find libtorch through the machine's torch (their build-time rpath points
# at the build machine's).
torch_lib="$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gpu="$("$py" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")')"
if [ -z "$gpu" ]; then
  echo "no CUDA GPU is visible to PyTorch here: nothing was checked" >&2
  exit 2
fi
rm -rf "$out" && mkdir -p "$out"
rows=()
row() { rows+=("$(printf '| %-34s | %-8s | %s |' "$1" "$2" "$3")"); }
row "GPU" "yes" "$gpu (torch $("$py" -c 'import torch; print(torch.__version__)'))"
# vireid-torch loads libtorch_cuda itself at start where a driver is: it must have, and see
# the GPU PyTorch sees.
"$vireid" env --json > "$out/env.json"
env_row="$("$py" - "$out/env.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
ok = e["cuda_half"] == "loaded" and e["gpus"] > 0 and e["cudnn_version"]
print(("yes" if ok else "NO") + f" | {e['cuda_half']}, {e['gpus']} GPU(s), cuDNN {e['cudnn_version']}, NCCL built {e['nccl_built']}")
PY
)"
row "libtorch_cuda loaded at start" "${env_row%% | *}" "${env_row#* | }"

# Compares two safetensors files or two .npy files: prints the largest absolute difference
# and the largest absolute value, and whether all values are finite.
compare() {
  "$py" - "$1" "$2" <<'PY'
import json, struct, sys
import numpy as np
def load(path):
    if path.endswith(".npy"):
        return {"x": np.load(path)}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "F64": np.float64}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=dt).reshape(v["shape"])
    return out
x, y = load(sys.argv[1]), load(sys.argv[2])
diff = max(float(np.max(np.abs(x[k].astype(np.float64) - y[k].astype(np.float64)))) for k in x if x[k].size)
top = max(float(np.max(np.abs(x[k].astype(np.float64)))) for k in x if x[k].size)
finite = all(np.isfinite(v).all() for v in list(x.values()) + list(y.values()))
print(f"{diff:.3g} {top:.3g} {finite}")
PY
}
verdict() { # $1 difference, $2 bound, $3 finite
  "$py" -c "import sys; print('ok' if sys.argv[3] == 'True' and float(sys.argv[1]) <= float(sys.argv[2]) else 'FAILED')" "$@"
}

# Synthetic data: a small training set and a SYSU-MM01-sized test set (96 people).
"$vireid" synth --dataset sysu --out "$out/small" --ids 48 --test-ids 16 --json > /dev/null
"$vireid" synth --dataset sysu --out "$out/sysu" --ids 128 --test-ids 96 \
  --min-images 20 --max-images 20 --json > /dev/null
tiny() { # $1: file, $2: amp
  printf 'backbone = "resnet18"\nheight = 96\nwidth = 48\nids_per_batch = 3\nimages_per_id = 2\nlr = 0.01\neval_every = 0\npretrained = "none"\nepochs = 1\nprefetch = 2\namp = %s\n' "$2" > "$1"
}
train() { # $1: run folder, $2: config, $3: device, then more flags
  local dir="$1" config="$2" device="$3"; shift 3
  "$vireid" train --dataset sysu --root "$out/small" --config "$config" --out "$dir" \
    --device "$device" --json "$@" > "$dir.json"
}

# fp32 and AMP training, GPU against CPU (deterministic mode: no cuDNN benchmarking).
tiny "$out/fp32.toml" false
tiny "$out/amp.toml" true
train "$out/cpu" "$out/fp32.toml" cpu --deterministic
train "$out/gpu" "$out/fp32.toml" cuda --deterministic
train "$out/amp" "$out/amp.toml" cuda --deterministic
read -r d top finite < <(compare "$out/gpu/last.safetensors" "$out/cpu/last.safetensors")
row "fp32 training, GPU vs CPU (1 epoch)" "$(verdict "$d" 1e-2 "$finite")" "max |diff| $d of weights up to $top"
read -r d top finite < <(compare "$out/amp/last.safetensors" "$out/gpu/last.safetensors")
skipped="$("$py" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(sum(h.get("skipped_steps", 0) for h in s["history"]))' "$out/amp.json")"
row "AMP training vs fp32 on the GPU" "$(verdict "$d" 5e-2 "$finite")" "max |diff| $d, $skipped steps skipped"

# Extract parity on a ResNet-50 checkpoint at 384 x 192: one short GPU run makes it.
printf 'backbone = "resnet50"\nheight = 384\nwidth = 192\nlr = 0.01\neval_every = 0\npretrained = "none"\nepochs = 1\nprefetch = 4\n' > "$out/r50.toml"
"$vireid" train --dataset sysu --root "$out/small" --config "$out/r50.toml" --out "$out/r50" \
  --device cuda --json > /dev/null
"$py" -c 'import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(0).standard_normal((16, 3, 384, 192)).astype(np.float32))' "$out/batch.npy"
for dev in cpu cuda; do
  NVIDIA_TF32_OVERRIDE=0 "$vireid" extract --checkpoint "$out/r50/last.safetensors" \
    --modality thermal --input "$out/batch.npy" --out "$out/features-$dev" --flip --device "$dev" --json > /dev/null
done
read -r d top finite < <(compare "$out/features-cuda/pool.npy" "$out/features-cpu/pool.npy")
row "extract, GPU vs CPU (TF32 off)" "$(verdict "$d" 1e-3 "$finite")" "pool max |diff| $d (values up to $top)"

# Speed: ResNet-50, 384 x 192, B = 6, K = 4 (48 images a step), fp32 and AMP.
for amp in false true; do
  printf 'backbone = "resnet50"\nheight = 384\nwidth = 192\nids_per_batch = 6\nimages_per_id = 4\nlr = 0.01\neval_every = 0\npretrained = "none"\nepochs = 3\namp = %s\n' "$amp" > "$out/speed-$amp.toml"
  "$vireid" train --dataset sysu --root "$out/sysu" --config "$out/speed-$amp.toml" \
    --out "$out/speed-$amp" --device cuda --json > /dev/null
  figure="$("$py" - "$out/speed-$amp/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
ips = sum(r["images_per_second"] for r in rows) / len(rows)
wait = sum(r["seconds_waiting"] for r in rows) / sum(r["seconds"] for r in rows)
print(f"{ips:.1f} images/s, {100 * wait:.0f}% of the time waiting for batches")
PY
)"
  [ "$amp" = true ] && what="training speed, AMP" || what="training speed, fp32"
  row "$what (R50 384x192, batch 48)" "measured" "$figure"
done

# The 10-trial test on the SYSU-MM01-sized test set.
start="$(date +%s.%N)"
"$vireid" test --dataset sysu --root "$out/sysu" --checkpoint "$out/speed-true/last.safetensors" \
  --device cuda --json > "$out/test.json"
seconds="$("$py" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$start" "$(date +%s.%N)")"
row "10-trial test, SYSU-sized (96 people)" "measured" "$seconds s (start-up included)"

{
  echo "| check | result | figure |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$out/gpu-check.md"
! grep -q FAILED "$out/gpu-check.md"
