#!/usr/bin/env bash
# Start-up of every vireid command (wall time and peak memory of `vireid CMD --help`), and one
# SYSU-MM01-sized `vireid metrics` (3803 x 3010 distances, --json) as a whole process beside
# two peers on the same files, in the same run: fast-reid's compiled evaluator (rank_cy.pyx
# from the fastreid==1.4.0 wheel on PyPI, built with Cython in its own environment,
# target/bench/fastreid-env) and the reference's eval_sysu (numpy, scripts/numpy_eval.py).
#   scripts/bench-startup.sh        # ROUNDS=9 for more rounds (median)
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(scripts/python-env.sh)"
cargo build --release --quiet -p vireid
dir="${BENCH_DIR:-target/bench}"
multi="$dir/eval-sysu-multi"
[ -f "$multi/trial0_gallery_pool.npy" ] || "$python" scripts/make_eval_features.py "$multi" 10
mkdir -p "$dir"
fr="$(cd "$dir" && pwd)/fastreid-env"
if [ ! -f "$fr/built" ]; then
  echo "building fast-reid's evaluator in $fr (once)" >&2
  python3 -m venv "$fr"
  "$fr/bin/python" -m pip install --quiet --no-cache-dir --disable-pip-version-check numpy cython setuptools
  "$fr/bin/python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$fr/wheel" fastreid==1.4.0
  "$fr/bin/python" -m zipfile -e "$fr"/wheel/fastreid-1.4.0-*.whl "$fr/src"
  (cd "$fr/src/fastreid/evaluation/rank_cylib" && "$fr/bin/python" - <<'PY'
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
setup(ext_modules=cythonize([Extension("rank_cy", ["rank_cy.pyx"], include_dirs=[numpy.get_include()])],
                            quiet=True),
      script_args=["build_ext", "--inplace", "--quiet"])
PY
  ) >&2
  touch "$fr/built"
fi
exec "$python" scripts/bench_startup.py "$multi" "$fr/bin/python" "$fr/src/fastreid/evaluation/rank_cylib"
