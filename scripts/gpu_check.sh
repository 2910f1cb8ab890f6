#!/usr/bin/env bash
# The GPU check of docs/benchmarks.md, for a session that is lent a GPU machine (15 minutes of device time, one
# H100/H200, Python 3.12 with torch/numpy/scipy/pytest but no pydicom, SimpleITK or nilearn, 64 MiB for the whole
# working tree: /work/shared/reference/gpu-device-notes.md). Two steps:
#
#   here, once:        bash scripts/gpu_check.sh prepare
#       → build/gpu_check/: the pydicom wheel for Python 3.12 and the benchmark study (the simulated patient of
#         bench_sr.py / bench_cli.py as classic DICOM, xz-compressed, ≈ 3–4 MB). SimpleITK is not carried:
#         DICOM in → DICOM out never imports it (scripts/gpu_train.sh, which needs it, carries it xz-packed).
#   on the device:     run(command="bash scripts/gpu_check.sh run", carry=["build/gpu_check"], timeout_s=560)
#       → $OUT/gpu_check.md: machine, the CUDA tests (-k cuda), bench_sr.py on CUDA with every precision / layout
#         candidate and its error against the strict-fp32 naive path, and the end-to-end bench_cli.py (`quantsr sr`
#         on the DICOM study, --device cuda, split into imports / read / model set-up / compute / write).
#         Each step has its own time limit, so one that hangs cannot eat the others' time.
#
# Then copy the tables into docs/benchmarks.md (GPU section) with the date and the device line, and give the machine
# back. Locally (no GPU), `PYTHON=.venv/bin/python bash scripts/gpu_check.sh run` skips the CUDA steps and runs
# bench_cli.py once on the CPU instead (a check that the script and the carried study work).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/device_lib.sh
HERE=build/gpu_check
MODE=${1:-run}

case "$MODE" in
prepare)
  PYTHON=${PYTHON:-.venv/bin/python}
  rm -rf "$HERE" && mkdir -p "$HERE/wheels"
  device_wheels "$HERE/wheels" pydicom || exit 1
  WORK=$(mktemp -d)
  "$PYTHON" - "$WORK" <<'EOF' || exit 1
import sys
from pathlib import Path
sys.path.insert(0, "Testing/Benchmarks")
import bench_cli
print("benchmark study:", bench_cli.write_study(Path(sys.argv[1])))
EOF
  tar -cJf "$HERE/study.tar.xz" -C "$WORK" study && rm -rf "$WORK"
  du -sh "$HERE" "$HERE"/*
  exit 0
  ;;
run) ;;
*) echo "usage: bash scripts/gpu_check.sh prepare|run" >&2; exit 2 ;;
esac

OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
REPORT="$OUT/gpu_check.md"
PYTHON=${PYTHON:-python3}  # the device's Python; locally: PYTHON=.venv/bin/python bash scripts/gpu_check.sh run
SITE=/tmp/quantsr-site
WORK=/tmp/quantsr-gpu-check
rm -rf "$WORK" && mkdir -p "$WORK"

if [ -d "$HERE/wheels" ] && ! "$PYTHON" -c "import pydicom" 2>/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --target "$SITE" "$HERE"/wheels/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/QuantSR:$PWD/QuantSRTraining:$PWD/Testing${PYTHONPATH:+:$PYTHONPATH}"
[ -f "$HERE/study.tar.xz" ] && tar -xJf "$HERE/study.tar.xz" -C "$WORK"

step() {  # step TITLE SECONDS COMMAND...: run with a time limit, keep the output in the report
  local title=$1 limit=$2; shift 2
  local started=$SECONDS
  { echo; echo "## $title"; echo; echo '```'; echo "\$ $*"; } >>"$REPORT"
  timeout "$limit" "$@" >"$OUT/step.log" 2>&1
  local status=$?
  grep -v '^\s*$' "$OUT/step.log" | grep -v 'it/s\]\|slice/s\]' | tail -60 >>"$REPORT"
  { echo '```'; echo "exit status $status after $((SECONDS - started)) s (limit $limit s)"; } >>"$REPORT"
  echo "$title: exit $status, $((SECONDS - started)) s"
}

{
  echo "# GPU check $(date -u +%Y-%m-%d), $(git rev-parse --short HEAD 2>/dev/null || echo 'no git')"
  echo
  echo '```'
  device_description
  echo '```'
} >"$REPORT"

CUDA=$("$PYTHON" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
if [ "$CUDA" = 1 ]; then
  step "CUDA tests" 120 "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda Testing/core/test_streams.py \
    Testing/core/test_speedups.py Testing/core/test_engine.py Testing/core/test_baselines.py
  step "bench_sr.py on CUDA: precision / layout candidates" 280 "$PYTHON" Testing/Benchmarks/bench_sr.py \
    --device cuda --repeats 2 --study "$WORK/study" --workdir "$WORK/bench_sr"
  step "bench_cli.py: quantsr sr, DICOM study → DICOM, --device cuda" 130 "$PYTHON" Testing/Benchmarks/bench_cli.py \
    --device cuda --format dicom --repeats 3 --workdir "$WORK"
else
  echo "no CUDA device: the CUDA steps are skipped" | tee -a "$REPORT"
  step "bench_cli.py: quantsr sr, DICOM study → DICOM, --device cpu (one run)" 300 "$PYTHON" \
    Testing/Benchmarks/bench_cli.py --device cpu --format dicom --repeats 1 --skip-floor --workdir "$WORK"
fi
rm -f "$OUT/step.log"
echo "report: $REPORT"
