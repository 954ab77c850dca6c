"""The windows x speeds sweep of docs/real-speech.md: every window set with every speed
set, each scored as ``edgekws eval --windows N --window-step S --speeds ...
--calibrate-on ../shared/data/sc-v1-sample`` scores it (the offset chosen on the
validation speakers by class-balanced 12-class accuracy), each (speed, shift) window
scored once and the sets averaged from them.

Run:  .venv/bin/python docs/scripts/window_speed_sweep.py [MODEL.ekws]
      (about 20 minutes here; the shipped model by default)
"""
import sys

import numpy as np

from edgekws.data.shifts import window_shifts
from edgekws.evaluate.real import (Scores, choose_unknown_offset, fsdd_clips, score_model,
                                   speech_commands_clips)
from edgekws.models import shipped_model_path

DIGITS = "zero one two three four five six seven eight nine".split()
WINDOWS = [(1, 0.05), (3, 0.05), (5, 0.05), (7, 0.05), (3, 0.1), (5, 0.075), (7, 0.025)]
SPEEDS = [(1.0,), (0.92, 1.0, 1.08), (0.85, 1.0, 1.15), (0.85, 0.92, 1.0, 1.08, 1.15),
          (0.8, 0.92, 1.0, 1.08, 1.2), (0.8, 0.85, 0.92, 1.0, 1.08, 1.15, 1.2)]


def main(model):
    sets = {"val": speech_commands_clips("../shared/data/sc-v1-sample"),
            "test": speech_commands_clips("../shared/data/sc-v2-test-dev", folds=(0, 1)),
            "fsdd": fsdd_clips("../shared/data/fsdd")}
    speeds = sorted({v for s in SPEEDS for v in s})
    shifts = sorted({round(v, 3) for n, step in WINDOWS for v in window_shifts(n, step)})
    one = {k: {(sp, sh): score_model(model, c, shifts=(sh,), speeds=(sp,))
               for sp in speeds for sh in shifts} for k, c in sets.items()}
    words = one["val"][1.0, 0.0].model_words
    cols = [words.index(w) for w in DIGITS]
    print("| windows | speeds | validation, class-balanced (offset) | held-out 12 classes "
          "| FSDD digits |\n|---|---|---:|---:|---:|")
    for n, step in WINDOWS:
        for sp_set in SPEEDS:
            views = [(sp, round(sh, 3)) for sp in sp_set for sh in window_shifts(n, step)]
            sc = {}
            for k, c in sets.items():
                mean = sum(one[k][v].scores for v in views) / len(views)
                sc[k] = Scores(c, words, mean, [words[i] for i in mean.argmax(1)])
            off, table = choose_unknown_offset(sc["val"])
            truth, pred = sc["test"].twelve(off)
            fsdd = [DIGITS[i] for i in sc["fsdd"].scores[:, cols].argmax(1)]
            print(f"| {n}, {1000 * step:g} ms apart | {', '.join(f'{v:g}' for v in sp_set)} "
                  f"| {100 * dict(table)[off]:.1f} % ({off:g}) "
                  f"| {100 * np.mean(np.array(truth) == np.array(pred)):.1f} % "
                  f"| {100 * np.mean([a == b for a, b in zip(fsdd, sets['fsdd'].words)]):.1f} % |",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else shipped_model_path())
