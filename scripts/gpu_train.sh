#!/usr/bin/env bash
# Candidate models trained on a lent GPU (issue 16: the cortex next to CSF asks for a network that resolves the edge,
# docs/generalization.md "Session 13"). The device machine (15 minutes in all, 10 per command, Python 3.12 with torch,
# no SimpleITK / pydicom / nilearn, 64 MiB for the whole working tree: /work/shared/reference/gpu-device-notes.md)
# cannot receive the training data (≈ 1 GB), so it simulates them itself. Two steps:
#
#   here, once:     bash scripts/gpu_train.sh prepare
#       → build/gpu_train/: SimpleITK and pydicom for Python 3.12 (this machine's versions, unpacked and
#         xz-compressed: ≈ 30 MB instead of 55) and the three MNI152 maps from nilearn's wheel (5 MB).
#   on the device:  run(command="bash scripts/gpu_train.sh run", carry=["build/gpu_train"], timeout_s=590)
#       → simulates the training cohorts of scripts/make_generalization_data.sh (same seeds; QUANTSR_SETS=train, one
#         worker per core), then trains every variant × map of VARIANTS / MAPS at once through
#         scripts/train_bundled.sh (the bundled recipe per map + the variant's settings), each stopped by
#         optim.max_minutes (what BUDGET leaves after the simulation), and exports them: $OUT/models/<variant>/quantsr_<map>.safetensors, with
#         $OUT/gpu_train.md (machine, step times, iterations reached, last losses) and each run's metrics.csv.
#
# Then, here: validate each candidate on val_folded (Testing/Benchmarks/consistency_sweep.py --models
# $OUT/models/<variant>, as docs/generalization.md's sessions do), and only the chosen one on a new test set.
# Locally, `PYTHON=.venv/bin/python SMOKE=1 bash scripts/gpu_train.sh run` runs the same steps on a one-patient
# cohort for a few iterations on the CPU (a check of the script, not a model; Testing/training/test_gpu_train_script.py).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/device_lib.sh
HERE=build/gpu_train
MODE=${1:-run}

case "$MODE" in
prepare)
  PYTHON=${PYTHON:-.venv/bin/python}
  WORK=$(mktemp -d)
  rm -rf "$HERE" && mkdir -p "$HERE/mni" "$WORK/site"
  versions=$("$PYTHON" -c "import SimpleITK, pydicom; print(f'SimpleITK=={SimpleITK.__version__} pydicom=={pydicom.__version__}')") || exit 1
  # shellcheck disable=SC2086
  device_wheels "$WORK/wheels" $versions || exit 1
  for wheel in "$WORK"/wheels/*.whl; do "$PYTHON" -m zipfile -e "$wheel" "$WORK/site" || exit 1; done
  rm -rf "$WORK/site/pydicom/data/test_files"  # pydicom's own test images: not needed to write DICOM
  XZ_OPT=-T0 tar -cJf "$HERE/site.tar.xz" -C "$WORK/site" . || exit 1
  "$PYTHON" - "$HERE/mni" <<'EOF' || exit 1
import shutil, sys
from quantsr.simulate import phantom
for name in phantom._MNI_FILES.values():
    shutil.copy(phantom.mni_data_dir() / name, sys.argv[1])
EOF
  rm -rf "$WORK"
  du -sh "$HERE" "$HERE"/*
  tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
  carried=$(du -sb "$HERE" | cut -f1)
  echo "working tree $((tracked / 1048576)) MiB + carried $((carried / 1048576)) MiB (the device takes 64 MiB)"
  [ $((tracked + carried)) -lt $((64 * 1048576)) ] || { echo "too large for the device" >&2; exit 1; }
  exit 0
  ;;
run) ;;
*) echo "usage: bash scripts/gpu_train.sh prepare|run" >&2; exit 2 ;;
esac

OUT=${OUT:-/tmp/gpu_train_out}
PYTHON=${PYTHON:-python3}
SMOKE=${SMOKE:-0}
BUDGET=${BUDGET:-540}     # seconds this command may take (the device's command limit is 600)
MINUTES=${MINUTES:-auto}  # training time per run (all at once); auto: what BUDGET leaves after the simulation,
                          # less 100 s for reading the cohorts into the training cache and exporting
MAPS=${MAPS:-T1 T2}       # T1 and T2 fail the cortex bar; PD passes it
# one variant per line, name=settings (section.key=value, separated by commas); every variant trains every map:
#   wide16     the paper's 16-block generator, larger batches, L1 (+ the map's recipe terms) only
#   wide16adv  the same, with the adversarial term (1e-3, the paper's) after the first third
VARIANTS=${VARIANTS:-"wide16=model.residual_blocks=16,optim.batch_size=16,optim.max_iterations=15000,optim.lr_step=3000,optim.warmup_iterations=15000
wide16adv=model.residual_blocks=16,optim.batch_size=16,optim.max_iterations=15000,optim.lr_step=3000,optim.warmup_iterations=5000"}
WORK=${WORK:-/tmp/quantsr-gpu-train}  # cohorts, runs (checkpoints stay here) and the unpacked packages
DATA=$WORK/data
RUNS=$WORK/runs
SITE=$WORK/site
mkdir -p "$OUT/models" && rm -rf "$RUNS"
REPORT="$OUT/gpu_train.md"

if ! "$PYTHON" -c "import SimpleITK, pydicom" 2>/dev/null; then
  [ -f "$HERE/site.tar.xz" ] || { echo "no SimpleITK / pydicom here and no $HERE/site.tar.xz: run prepare" >&2; exit 1; }
  mkdir -p "$SITE" && tar -xJf "$HERE/site.tar.xz" -C "$SITE" && export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PYTHON" -c "import nilearn" 2>/dev/null || export QUANTSR_MNI152_DIR="$PWD/$HERE/mni"
export PYTHONPATH="$PWD/QuantSR:$PWD/QuantSRTraining${PYTHONPATH:+:$PYTHONPATH}"

{
  echo "# GPU training $(date -u +%Y-%m-%d), $(git rev-parse --short HEAD 2>/dev/null || echo 'no git')"
  echo
  echo '```'
  device_description
  echo "budget: $BUDGET s; maps: $MAPS"
  echo '```'
} >"$REPORT"
started=$SECONDS
note() { echo "- $1 ($((SECONDS - started)) s)" | tee -a "$REPORT"; }

# 1. the training cohorts (seeds 5001 / 5003 / 5002), three cohorts at once, one core per worker
if [ "$SMOKE" = 1 ]; then
  "$PYTHON" -m quantsr.cli simulate -o "$DATA/train_folded_a" --anatomy folded --subjects 0 --patients 1 \
    --max-lesions 3 --lesion-kinds randomised_full --seed 5001 >"$OUT/simulate.log" 2>&1
  for cohort in train_folded_b train_mni; do ln -sfn "$DATA/train_folded_a" "$DATA/$cohort"; done
else
  QUANTSR_SETS=train QUANTSR_WORKERS=$(nproc) QUANTSR_CMD="$PYTHON -m quantsr.cli" \
    bash scripts/make_generalization_data.sh "$DATA" >"$OUT/simulate.log" 2>&1
fi
status=$?
note "simulated the training cohorts: exit $status"
[ $status = 0 ] || { tail -20 "$OUT/simulate.log"; exit 1; }

# 2. every variant × map at once on the one GPU, each stopped after MINUTES
if [ "$MINUTES" = auto ]; then
  MINUTES=$("$PYTHON" -c "print(round(max(0.5, ($BUDGET - $((SECONDS - started)) - 100) / 60), 2))")
fi
note "training for $MINUTES minutes per run"
workers=$(( $(nproc) / ($(echo "$VARIANTS" | grep -c .) * $(echo $MAPS | wc -w)) ))
[ "$workers" -ge 1 ] || workers=1
pids=()
while IFS='=' read -r variant settings; do
  [ -n "$variant" ] || continue
  extra="${settings//,/ } optim.max_minutes=$MINUTES run.num_workers=$((workers > 1 ? workers - 1 : 0)) run.checkpoint_every=1000"
  [ "$SMOKE" = 1 ] && extra="$extra optim.max_iterations=4 optim.warmup_iterations=2 optim.batch_size=2 run.num_workers=0"
  QUANTSR_PYTHON=$PYTHON QUANTSR_PARALLEL=1 QUANTSR_TRAIN_SET="$extra" QUANTSR_MODELS_OUT="$OUT/models/$variant" \
    QUANTSR_MODEL_NOTE="GPU candidate $variant: $extra" \
    bash scripts/train_bundled.sh "$DATA" "$RUNS/$variant" "$MAPS" >"$OUT/train_$variant.log" 2>&1 &
  pids+=($!)
done <<<"$VARIANTS"
for pid in "${pids[@]}"; do wait "$pid" || note "a variant failed (its train_*.log and runs/*/*/train.log say why)"; done
note "trained and exported"
for log in "$RUNS"/*/*.log; do  # a failed run's last lines, in the report
  [ -f "$log" ] && grep -q 'Error\|error:' "$log" && { echo; echo "$log:"; echo '```'; tail -5 "$log"; echo '```'; } >>"$REPORT"
done

# 3. what came back: iterations reached, the last losses, each run's log
{
  echo
  echo "| variant | map | iterations | seconds | last losses (mean of the last 5 log rows) |"
  echo "|---|---|---|---|---|"
} >>"$REPORT"
for run in "$RUNS"/*/*/metrics.csv; do
  [ -f "$run" ] || continue
  variant=$(basename "$(dirname "$(dirname "$run")")"); map=$(basename "$(dirname "$run")")
  mkdir -p "$OUT/runs/$variant/$map" && cp "$run" "$(dirname "$run")/config.json" "$OUT/runs/$variant/$map/" 2>/dev/null
  cp "$RUNS/$variant/$map.log" "$OUT/runs/$variant/$map/train.log" 2>/dev/null
  "$PYTHON" - "$run" "$variant" "$map" >>"$REPORT" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
last = rows[-5:]
losses = ", ".join(f"{k[5:]} {sum(float(r[k] or 0) for r in last) / len(last):.4f}"
                   for k in rows[-1] if k.startswith("loss_") and rows[-1][k] != "")
print(f"| {sys.argv[2]} | {sys.argv[3]} | {rows[-1]['iteration']} | {rows[-1]['seconds']} | {losses} |")
EOF
done
ls "$OUT"/models/*/ >>"$REPORT" 2>&1
note "done"
echo "report: $REPORT"
