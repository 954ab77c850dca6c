#!/usr/bin/env bash
# The per-effect rows of docs/real-speech.md: Kokoro + real clips with 2 realistic copies
# each, once with every effect and once without each effect in turn (edgekws data mix
# --without), each trained with the eSpeak corpus at the ablation's small budget (see
# real_speech_ablation.sh) and scored on the held-out folds 0 and 1 and on FSDD.
set -euo pipefail
cd "$(dirname "$0")/../.."
EK=${EK:-.venv/bin/edgekws}
S=${S:-../shared/data}
OUT=${OUT:-build/abl}
BUDGET=${BUDGET:---float-epochs 6 --qat-epochs 2 --max-train 20000}
for without in ${@:-all reverb noise level band,colour speed,trim}; do
  name=fx-${without//,/-}
  flags=""
  [ "$without" != all ] && flags="--without ${without//,/ }"
  [ -f build/mix-$name/corpus.json ] || \
    $EK -q data mix --out build/mix-$name --overwrite --kokoro $S/kokoro \
      --speech-commands $S/sc-v2-test-dev --noise $S/sc-background-noise --holdout 0 1 \
      --val-speech-commands $S/sc-v1-sample --copies 2 $flags > /dev/null
  mkdir -p "$OUT/$name"
  # shellcheck disable=SC2086
  $EK -q train --root build/corpus-s200 build/mix-$name --out-dir "$OUT/$name" \
      --cache build/feat --level c0-max $BUDGET > "$OUT/$name/train.log" 2>&1
  $EK -q eval --model "$OUT/$name/ds_cnn_kws.ekws" --speech-commands $S/sc-v2-test-dev \
      --folds 0 1 --fsdd --out "$OUT/$name" > "$OUT/$name/eval.md"
  grep -E "^\*\*|^- " "$OUT/$name/eval.md" | sed "s/^/$name: /"
done
