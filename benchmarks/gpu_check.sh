#!/usr/bin/env bash
# GPU check (issue 11, item 7): build MNIST shards, train the reference MLP for 3 epochs, and
# print img/s of the input pipeline alone and of training, plus the test accuracy.
#
#   benchmarks/gpu_check.sh                      # full MNIST (put the figures in docs/benchmarks.md)
#   benchmarks/gpu_check.sh --rows 2000          # smoke run on a subset
#   benchmarks/gpu_check.sh --shards runs/mnist/shards --precision mixed --jit
#
# Backend: TensorFlow when TensorFlow is installed and sees a GPU, else Keras on JAX (for a
# machine with JAX+CUDA and no TensorFlow; nothing on that path imports TensorFlow). Set
# KERAS_BACKEND yourself to force one. Env: PYTHON (default .venv/bin/python, else python3),
# SOURCE (default ../shared/datasets/mnist), WORK (scratch folder, default a new /tmp one).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=$(command -v python3)
SOURCE=${SOURCE:-../shared/datasets/mnist}
WORK=${WORK:-$(mktemp -d /tmp/dataqual-gpu-check.XXXXXX)}
if [ -z "${KERAS_BACKEND:-}" ]; then
  if "$PY" -c 'import sys, tensorflow as tf; sys.exit(not tf.config.list_physical_devices("GPU"))' \
      >/dev/null 2>&1; then
    export KERAS_BACKEND=tensorflow
  else
    export KERAS_BACKEND=jax
  fi
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
echo "gpu_check: KERAS_BACKEND=$KERAS_BACKEND, work folder $WORK" >&2
exec "$PY" benchmarks/gpu_check.py --source "$SOURCE" --work "$WORK" "$@"
