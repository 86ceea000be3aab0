#!/usr/bin/env bash
# Old-versus-new timing of the label audit in one run: interleaves an earlier commit's code
# with the working tree's, each round in fresh processes, and prints one JSON line per run
# (bench_label_audit.py's: the median of REPEATS audits in that process, default 3, so the
# imports paid by the first one drop out; REPEATS=1 keeps them). Compare medians of the same
# run only (shared, noisy machines).
#   bash benchmarks/bench_label_audit_ab.sh OLD_REF [ROUNDS] [MODELS] [SOURCE]
# e.g. bash benchmarks/bench_label_audit_ab.sh 10fe18c 3 'knn,knn:pca_components=30'
set -euo pipefail
cd "$(dirname "$0")/.."
OLD_REF="${1:?usage: bench_label_audit_ab.sh OLD_REF [ROUNDS] [MODELS] [SOURCE]}"
ROUNDS="${2:-3}"
MODELS="${3:-knn}"
SOURCE="$(realpath "${4:-../shared/datasets/mnist}")"
PY="$(realpath -s "${PYTHON:-.venv/bin/python}")"
WORK="$(mktemp -d)"
trap 'git worktree remove --force "$WORK/old" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
git worktree add -q --detach "$WORK/old" "$OLD_REF"
mkdir "$WORK/new"
git ls-files -co --exclude-standard | tar cf - -T - | tar xf - -C "$WORK/new"
run() {  # side, model
  (cd "$WORK/$1" && PYTHONPATH="$WORK/$1:$WORK/$1/src" "$PY" benchmarks/bench_label_audit.py \
    --source "$SOURCE" --models "$2" --repeats "${REPEATS:-3}" | tail -1 | sed "s/^{/{\"code\": \"$1\", /")
}
for round in $(seq "$ROUNDS"); do
  run old knn
  IFS=, read -ra variants <<< "$MODELS"
  for model in "${variants[@]}"; do run new "$model"; done
done
