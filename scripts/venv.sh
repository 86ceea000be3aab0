# Sourced by demo.sh and test.sh: create .venv (Python 3.11+) and install dataqual into it.
#   EXTRAS="[test]" . scripts/venv.sh
PY="${PYTHON:-python3}"
VENV="${DATAQUAL_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".${EXTRAS:-}"
