"""Runs the prepare benchmark and prints its table (see bench-prepare.sh)."""
import json
import os
import shutil
import subprocess
import sys

vireid, root = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
cores = os.cpu_count()
out_dir = os.path.join(root, "bench-cache")


def run(args):
    res = subprocess.run([vireid] + args + ["--json"], check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def prepare(threads, check):
    args = ["prepare", "--dataset", "sysu", "--root", root, "--threads", str(threads), "--force"]
    args += ["--check"] if check else ["--out", out_dir]
    r = run(args)
    if not check:
        shutil.rmtree(out_dir, ignore_errors=True)
    return r


images = None
rows = []
for check in (True, False):
    for threads in (1, cores):
        r = prepare(threads, check)
        images = r["visible"] + r["thermal"]
        what = "decode+resize" if check else "prepare (writes cache)"
        rows.append((f"vireid {what}", threads, r["images_per_second"]))
pillow = json.loads(subprocess.run(
    [sys.executable, os.path.join(here, "pillow_prepare_rate.py"), root, "384", "192"],
    check=True, capture_output=True, text=True).stdout)
rows.append(("Pillow open+resize+array", 1, pillow["images_per_second"]))

print(f"{images} training images of a synthetic SYSU-MM01 tree ({root}), resized to 384 x 192")
print(f"{'':<34}{'threads':>8}{'images/s':>11}{'x Pillow/thread':>17}")
base = pillow["images_per_second"]
for name, threads, rate in rows:
    print(f"{name:<34}{threads:>8}{rate:>11.0f}{rate / threads / base:>17.2f}")
d1, dn = rows[0][2], rows[1][2]
print(f"decode+resize scaling: {dn / d1:.2f}x on {cores} threads ({dn / d1 / cores:.0%} of linear)")
