#!/usr/bin/env bash
# QuantSR set-up and entry points for a fresh clone:
#   bash scripts/dev.sh demo [-o DIR]   set up (first run) and run the demo on embedded/simulated data
#   bash scripts/dev.sh test [PYTEST ARGS]   set up (first run), then ruff + mypy + the whole pytest suite
# The virtual environment lives in .venv (override with QUANTSR_VENV). torch is installed first, pinned
# (QUANTSR_TORCH_SPEC, default torch==2.13.0) so the project's range `torch>=2.2` never pulls another build.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${QUANTSR_VENV:-.venv}
TORCH_SPEC=${QUANTSR_TORCH_SPEC:-torch==2.13.0}
STAMP="$VENV/.quantsr-setup"

setup() {
  if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
    return
  fi
  echo "quantsr: setting up $VENV (first run only) ..." >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  touch "$STAMP"
}

ensure_tool() {
  # $1 command, $2 Debian package, $3 what skips without it. Tests judge our DICOM with dciodvfy
  # (dicom3tools) and open the HTML report in headless Chromium; install them where we may.
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "quantsr: installing $2 ($1) ..." >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null || echo "quantsr: $1 not found; $3 tests will skip (fail in CI)" >&2
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  demo)
    setup
    exec "$VENV/bin/quantsr" demo "$@"
    ;;
  test)
    setup
    ensure_tool dciodvfy dicom3tools "DICOM validity"
    ensure_tool chromium chromium "HTML report"
    ensure_tool chromedriver chromium-driver "browser (quantsr view)"
    "$VENV/bin/ruff" check .
    "$VENV/bin/mypy"  # the core and training packages (pyproject.toml [tool.mypy]); zero errors
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    set -e
    if [ "$rc" = 5 ]; then
      echo "quantsr: pytest collected no tests - that is a failure" >&2
      exit 1
    fi
    exit "$rc"
    ;;
  setup)
    setup
    ;;
  *)
    echo "usage: bash scripts/dev.sh {demo|test|setup} [ARGS]" >&2
    exit 2
    ;;
esac
