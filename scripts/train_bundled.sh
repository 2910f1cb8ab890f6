#!/usr/bin/env bash
# Train and export the bundled T1 / T2 / PD models (issue 16): T1 and PD v4, T2 v3 (chosen per map on
# validation, docs/generalization.md, "Session 11").
#   bash scripts/train_bundled.sh DATA_DIR RUN_DIR [MAPS]
# DATA_DIR holds the generalization protocol's cohorts: bash scripts/make_generalization_data.sh DATA_DIR
# Training uses train_folded_a (every subject), train_folded_b and train_mni; validation and test cohorts are
# never read here. Two maps train side by side as 1-thread processes (2 cores); models go to
# Resources/Models/quantsr_{t1,t2,pd}.safetensors (or $QUANTSR_MODELS_OUT: candidates to validate first).
# Validation: Testing/Benchmarks/generalization.py.
# Environment, for candidates (scripts/gpu_train.sh): QUANTSR_TRAIN_SET="section.key=value ..." overrides the recipe
# (after every setting below); QUANTSR_MODEL_NOTE is added to the exported models' description; QUANTSR_PARALLEL=1
# trains every map at once (a GPU) instead of two at a time; QUANTSR_PYTHON runs the trainer with that Python and
# `-m quantsr_training.cli` (where nothing is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?data folder (scripts/make_generalization_data.sh)}
RUN=${2:?run folder}
MAPS=${3:-T1 T2 PD}
VENV=${QUANTSR_VENV:-.venv}
MODELS=${QUANTSR_MODELS_OUT:-Resources/Models}
PYTHON=${QUANTSR_PYTHON:-$VENV/bin/python}
TRAIN=("$PYTHON" -m quantsr_training.cli)
OVERRIDES=()
for setting in ${QUANTSR_TRAIN_SET:-}; do OVERRIDES+=(--set "$setting"); done
NOTE=${QUANTSR_MODEL_NOTE:+; $QUANTSR_MODEL_NOTE}
mkdir -p "$RUN" "$MODELS"
# every subject of the first training cohort trains (the protocol's validation / test cohorts are separate)
"$PYTHON" - "$DATA/train_folded_a" "$RUN/split.json" <<'PY'
import csv, json, sys
from pathlib import Path
subjects = sorted({row["subject"] for row in csv.DictReader(open(Path(sys.argv[1]) / "manifest.csv"))})
Path(sys.argv[2]).write_text(json.dumps({"seed": 0, "train_fraction": 1.0, "train": subjects, "test": []}))
PY
train() {
  local map=$1 lower
  lower=$(echo "$map" | tr '[:upper:]' '[:lower:]')
  local resume=()
  [ -f "$RUN/$map/checkpoints/last.pt" ] && resume=(--resume)
  # the fast-consistency term won on validation for T1 and PD, not for T2 (docs/generalization.md, "Choices");
  # T1 and PD (v4) also read the study's other two fast maps and train 6000 iterations, and their files record
  # the consistency step chosen for them (1 mm through the fast acquisition's forward model); T2 stays v3
  local consistency=1.0 version=v4 recipe=() step=(--fast-consistency 1 --fast-consistency-forward acquisition) guides=""
  case "$map" in
    T1) recipe=(--set data.guide_maps=T2,PD) ;;
    PD) recipe=(--set data.guide_maps=T1,T2) ;;
    T2) consistency=0.0 version=v3 step=() ;;
  esac
  if [ "$version" = v4 ]; then
    recipe+=(--set optim.max_iterations=6000 --set optim.warmup_iterations=6000)
    guides="reads the study's other fast maps as guides, 6000 iterations; consistency step 1 mm through the fast acquisition's forward model; "
  fi
  OMP_NUM_THREADS=1 "${TRAIN[@]}" fit Resources/Models/train_bundled.toml --set "data.map=$map" \
    --set "loss.fast_consistency=$consistency" "${recipe[@]}" \
    --set "data.cohort=$DATA/train_folded_a" --set "data.extra_train_cohorts=$DATA/train_folded_b,$DATA/train_mni" \
    --set "run.output=$RUN/$map" --set "data.split_file=$RUN/split.json" --set "data.cache_dir=$RUN/cache" \
    "${OVERRIDES[@]}" "${resume[@]}" > "$RUN/$map.log" 2>&1
  "${TRAIN[@]}" export "$RUN/$map/checkpoints/last.pt" -o "$MODELS/quantsr_$lower.safetensors" "${step[@]}" \
    --description "QuantSR bundled $map model $version (${guides}L1 + local-mean + fast-consistency $consistency, residual over bicubic, folded-anatomy training${NOTE}): trained on SIMULATED digital-phantom data, not clinical" \
    --trained-on "28 simulated subjects: 22 with synthetic individual cortical folding (seeds 5001, 5003) + 6 on the MNI152 average brain (seed 5002), 20 patients with 1-14 randomised_full lesions; fast 192x128 R=3 -> routine 320x256 R=2"
}
set -- $MAPS
if [ "${QUANTSR_PARALLEL:-0}" = 1 ]; then
  pids=()
  for map in "$@"; do train "$map" & pids+=($!); done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done  # every map finishes even if one fails
  exit "$failed"
fi
while [ $# -gt 0 ]; do
  train "$1" &
  first=$!
  [ $# -gt 1 ] && { train "$2"; shift; }
  wait "$first"
  shift
done
