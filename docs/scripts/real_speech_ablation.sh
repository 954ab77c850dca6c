#!/usr/bin/env bash
# The ablation of docs/real-speech.md: what each data source and acoustic effect does to
# real-speech accuracy, at one small training budget per row (float 6 + QAT 2 epochs, at
# most 20,000 training samples drawn from the row's corpora, seed 0).
# Every row is scored on the speakers of folds 0 and 1 of sc-v2-test-dev, which no corpus
# here contains (edgekws data mix --holdout 0 1), and on FSDD (never trained on).
# Needs the corpora of the rows (see docs/real-speech.md, "Rebuild"); ROWS picks rows.
# Usage: docs/scripts/real_speech_ablation.sh [row ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
EK=${EK:-.venv/bin/edgekws}
SC=${SC:-../shared/data/sc-v2-test-dev}
OUT=${OUT:-build/abl}
BUDGET=${BUDGET:---float-epochs 6 --qat-epochs 2 --max-train 20000}
declare -A ROOTS=(
  [espeak]="build/corpus-s200"
  [kokoro]="build/corpus-s200 build/mix-kk0"
  [real]="build/corpus-s200 build/mix-kk0 build/mix-sc0"
  [acoustics]="build/corpus-s200 build/mix-all"
  [level]="build/corpus-s200 build/mix-all"
  [cmn]="build/corpus-s200 build/mix-all"
  [real-x4]="build/corpus-s200 build/mix-all build/mix-sc12"
  [no-reverb]="build/corpus-s200 build/mix-noreverb"
  [no-noise]="build/corpus-s200 build/mix-nonoise"
  [specaug]="build/corpus-s200 build/mix-all build/mix-sc12"
  [sc-words]="build/corpus-s200 build/mix-all build/mix-sc12"
  [specaug-mild]="build/corpus-s200 build/mix-all build/mix-sc12"
  [real-x4-seed1]="build/corpus-s200 build/mix-all build/mix-sc12"
  [sc-words-seed1]="build/corpus-s200 build/mix-all build/mix-sc12"
)
# The 32 Speech Commands words the mixed corpora hold (the eSpeak corpus adds 45 more).
SC_WORDS="bed bird cat dog down eight five four go happy house learn left marvin nine no off
 on one right seven sheila six stop three tree two up visual wow yes zero"
declare -A EXTRA=([level]="--level c0-max" [cmn]="--level c0-max-cmn"
                 [real-x4]="--level c0-max"
                 [specaug]="--level c0-max --spec-augment 2 6 1 2"
                 [sc-words]="--level c0-max --words $SC_WORDS"
                 [specaug-mild]="--level c0-max --spec-augment 1 4 0 0"
                 [real-x4-seed1]="--level c0-max --seed 1"
                 [sc-words-seed1]="--level c0-max --words $SC_WORDS --seed 1")
for row in "${@:-espeak kokoro real acoustics level}"; do
  for r in $row; do
    mkdir -p "$OUT/$r"
    # shellcheck disable=SC2086
    $EK train --root ${ROOTS[$r]} --out-dir "$OUT/$r" --cache build/feat $BUDGET \
        ${EXTRA[$r]:-} --quiet > "$OUT/$r/train.log" 2>&1
    $EK eval --model "$OUT/$r/ds_cnn_kws.ekws" --speech-commands "$SC" --folds 0 1 --fsdd \
        --out "$OUT/$r" --quiet > "$OUT/$r/eval.md"
    grep -E "^\*\*|^- " "$OUT/$r/eval.md" | sed "s/^/$r: /"
  done
done
