#!/usr/bin/env bash
# The two README commands start here.
#   ./bootstrap.sh demo   set everything up, start the local lab and run the main job on it
#   ./bootstrap.sh test   set everything up and run lint, unit and integration tests
# Idempotent: a second run reuses .venv and the toolchain cache (~/.cache/govcloud).
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-}
case "$mode" in demo|test|setup) ;; *) echo "usage: $0 demo|test|setup" >&2; exit 2;; esac

python=${GOVCLOUD_PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q --disable-pip-version-check uv==0.13.9
fi
# requirements.lock pins every dependency; the project itself is installed editable.
.venv/bin/uv pip install -q --python .venv/bin/python -r requirements.lock
.venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
.venv/bin/govcloud setup

case "$mode" in
  setup) ;;
  demo) exec .venv/bin/govcloud demo ;;
  test) exec .venv/bin/nox --no-venv -s lint unit integration ;;
esac
