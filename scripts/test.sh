#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite:
#   bash scripts/test.sh [pytest arguments]
# Creates .venv (Python 3.11+), installs dataqual with its test extras, installs Debian's
# Chromium for the report's browser test when it is missing, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="[test]" . scripts/venv.sh
if ! command -v chromium >/dev/null 2>&1 && [ "${DATAQUAL_SKIP_BROWSER:-0}" != 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export GX_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 TF_CPP_MIN_LOG_LEVEL=2
exec "$VENV/bin/python" -m pytest "$@"
