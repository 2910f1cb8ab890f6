#!/usr/bin/env bash
# The cohorts of the generalization protocol (issue 16, docs/generalization.md), from fixed seeds:
#   bash scripts/make_generalization_data.sh DATA_DIR
# training:   train_folded_a, train_folded_b (individual-looking folded anatomy), train_mni (MNI152 average
#             brain) — patients carry 1–14 lesions of the randomised_full kind (every plausible value, size,
#             outline and place);
# validation: val_folded — every choice of recipe is made on it;
# test:       test_folded, test_mni — generated once, looked at only for the v3 numbers;
# test 2:     test2_folded, test2_mni — new seeds, generated once after the first test set had been used, for
#             the numbers of the fast-scan consistency step chosen afterwards on validation (docs/generalization.md);
# test 3:     test3_folded, test3_mni — new seeds, generated once after test set 2 had been used, for the numbers
#             of the trust flag's precision warning chosen on the pooled validation data;
# test 4:     test4_folded, test4_mni — the same after test set 3 had been used, for the flag's final thresholds.
# test 5:     test5_folded, test5_mni — the same after test set 4 had been used, for the v4 (guide-map) models.
# test 6:     test6_folded, test6_mni — the same after test set 5, for the shipped T1 / PD v4 (session 11).
# test 7:     test7_folded, test7_mni — the same after test set 6, for session 12's choices.
# test 8:     test8_folded, test8_mni — the same after test set 7, for the next choice.
# Validation and test lesions are the evaluation families (small plaques, T2-dark foci, cysts, oedema,
# juxtacortical, periventricular) plus the paper's three kinds; their anatomies are new subjects (new seeds).
# Two cohorts are simulated side by side (1 thread each): ≈ 30 min for training, validation and test set 1 on 2 cores, ≈ 10–13 min more per later test set.
# Environment: QUANTSR_SETS=train makes only the three training cohorts (side by side; scripts/gpu_train.sh on a lent
# GPU machine); QUANTSR_WORKERS=N simulates N subjects of each cohort at once (`quantsr simulate --workers`, same
# cohorts; with QUANTSR_SETS=train N in all); QUANTSR_CMD replaces the `quantsr` command (e.g. "python3 -m
# quantsr.cli" where nothing is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?data folder}
SETS=${QUANTSR_SETS:-all}
WORKERS=${QUANTSR_WORKERS:-1}
if [ -n "${QUANTSR_CMD:-}" ]; then read -ra Q <<<"$QUANTSR_CMD"; else Q=("${QUANTSR_VENV:-.venv}/bin/quantsr"); fi
EVAL=WMH,infarct,encephalomalacia,small_plaque,t2_dark,cyst,oedema,juxtacortical,periventricular
export OMP_NUM_THREADS=1
mkdir -p "$DATA"
simulate() { "${Q[@]}" simulate --workers "$WORKERS" "$@"; }
train_folded_a() {
  simulate -o "$DATA/train_folded_a" --anatomy folded --subjects 6 --patients 8 --max-lesions 14 \
    --lesion-kinds randomised_full --seed 5001
}
train_folded_b() {
  simulate -o "$DATA/train_folded_b" --anatomy folded --subjects 0 --patients 8 --max-lesions 14 \
    --lesion-kinds randomised_full --seed 5003
}
train_mni() {
  simulate -o "$DATA/train_mni" --anatomy mni --subjects 2 --patients 4 --max-lesions 14 \
    --lesion-kinds randomised_full --seed 5002
}
if [ "$SETS" = train ]; then  # QUANTSR_WORKERS is then the total, shared 2 : 1 : 1 like the subjects (14 / 8 / 6)
  total=$WORKERS
  WORKERS=$(( total / 2 > 1 ? total / 2 : 1 )) && train_folded_a & a=$!
  WORKERS=$(( total / 4 > 1 ? total / 4 : 1 )) && train_folded_b & b=$!
  WORKERS=$(( total / 4 > 1 ? total / 4 : 1 ))
  train_mni
  wait "$a"
  wait "$b"
  exit 0
fi
[ "$SETS" = all ] || { echo "QUANTSR_SETS must be 'all' or 'train', got '$SETS'" >&2; exit 2; }
{
  train_folded_a
  simulate -o "$DATA/val_folded" --anatomy folded --subjects 1 --patients 3 --max-lesions 8 \
    --lesion-kinds "$EVAL" --seed 6001
} &
first=$!
train_folded_b
train_mni
test_set() {  # NAME FOLDED_SEED MNI_SEED: 1 healthy + 7 patients with folded anatomy, 1 + 2 on the MNI brain
  simulate -o "$DATA/$1_folded" --anatomy folded --subjects 1 --patients 7 --max-lesions 8 \
    --lesion-kinds "$EVAL" --seed "$2"
  simulate -o "$DATA/$1_mni" --anatomy mni --subjects 1 --patients 2 --max-lesions 8 \
    --lesion-kinds "$EVAL" --seed "$3"
}
test_set test 7001 7002
test_set test2 7101 7102
test_set test3 7201 7202
test_set test4 7301 7302
test_set test5 7401 7402
test_set test6 7501 7502
test_set test7 7601 7602
test_set test8 7701 7702
wait "$first"
