# Shared by the training-speed benchmarks (sourced): the synthetic SYSU-MM01 tree of the demo's
# size and a tiny config (ResNet-18, 48 x 24, the demo's budget) in $dir, and the mean
# images/s of a run's epochs after the first (start-up and warm-up left out).
# Needs: $dir, $vireid (the vireid executable to make the data with).
[ -f "$dir/data/vireid-synth.json" ] || "$vireid" synth --dataset sysu --out "$dir/data" \
  --ids 128 --test-ids 32 --min-images 1 --max-images 3 --json > /dev/null
cat > "$dir/tiny.toml" <<'TOML'
backbone = "resnet18"
height = 48
width = 24
pad = 2
lr = 0.01
backbone_lr_ratio = 1.0
eval_every = 0
pretrained = "none"
TOML
mean_rate() { # $1: a run's metrics.jsonl
  python3 - "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
print(f"{sum(r['images_per_second'] for r in rows) / len(rows):.2f}")
PY
}
