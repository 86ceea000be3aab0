#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole pipeline on the embedded sample:
#   bash scripts/demo.sh [extra `dataqual run` flags]
# No network needed beyond the package index. Output: data/out/demo/run.json and friends.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec "$VENV/bin/dataqual" run --source data/sample --out data/out/demo --overwrite "$@"
