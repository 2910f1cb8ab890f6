#!/usr/bin/env bash
# Train, export and evaluate the bundled T1 / T2 / PD models on a simulated cohort.
#   bash scripts/train_bundled.sh COHORT_DIR LESION_COHORT_DIR RUN_DIR [MAPS]
# COHORT_DIR is made with:        quantsr simulate -o COHORT_DIR --subjects 30 --patients 10 --seed 2026
# LESION_COHORT_DIR (training only, randomised lesions):
#                                 quantsr simulate -o LESION_COHORT_DIR --subjects 0 --patients 12 --seed 4242 \
#                                     --lesion-kinds randomised
# Models go to Resources/Models/quantsr_{t1,t2,pd}.safetensors; evaluation to RUN_DIR/evaluation_<MAP>/
set -euo pipefail
cd "$(dirname "$0")/.."
COHORT=${1:?cohort folder}
LESIONS=${2:?randomised-lesion cohort folder}
RUN=${3:?run folder}
MAPS=${4:-T1 T2 PD}
VENV=${QUANTSR_VENV:-.venv}
for map in $MAPS; do
  lower=$(echo "$map" | tr '[:upper:]' '[:lower:]')
  resume=()
  [ -f "$RUN/$map/checkpoints/last.pt" ] && resume=(--resume)
  "$VENV/bin/quantsr-train" fit Resources/Models/train_bundled.toml --set "data.map=$map" \
    --set "data.cohort=$COHORT" --set "data.extra_train_cohorts=$LESIONS" --set "run.output=$RUN/$map" \
    --set "data.split_file=$RUN/split.json" "${resume[@]}"
  "$VENV/bin/quantsr-train" export "$RUN/$map/checkpoints/last.pt" -o "Resources/Models/quantsr_$lower.safetensors" \
    --description "QuantSR bundled $map model (L1 + local-mean stage, iteration 2500, residual over bicubic): trained on SIMULATED digital-phantom data, not clinical" \
    --trained-on "44 simulated subjects (QuantSR MNI152 phantom cohort seed 2026: 24 healthy + 8 patients; plus 12 patients with randomised lesions, seed 4242); fast 192x128 R=3 -> routine 320x256 R=2"
  "$VENV/bin/quantsr-train" evaluate --cohort "$COHORT" --model "Resources/Models/quantsr_$lower.safetensors" \
    --split "$RUN/split.json" -o "$RUN/evaluation_$map"
done
