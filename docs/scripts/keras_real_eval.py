"""A trained run's Keras models (float, quantized) on the real-speech sets, as ``edgekws
eval`` feeds the golden model (one window, no offset): docs/real-speech.md's float figure.

Run:  .venv/bin/python docs/scripts/keras_real_eval.py build/final keras-float keras
      (a minute here)
"""
import sys

import numpy as np

from edgekws.data.mfcc import mfcc
from edgekws.evaluate.real import fsdd_clips, speech_commands_clips, twelve_class_of
from edgekws.train.model import load_keras
from edgekws.train.tfsetup import tensorflow
from edgekws.tutorial.edge_learning import front_end

DIGITS = "zero one two three four five six seven eight nine".split()


def main(run, names):
    _, _, extra, scaling, _ = front_end(f"{run}/ds_cnn_kws.ekws")
    words = list(extra["words"])
    tensorflow()
    sets = {"validation (sc-v1-sample)": speech_commands_clips("../shared/data/sc-v1-sample"),
            "held-out (sc-v2-test-dev folds 0, 1)": speech_commands_clips(
                "../shared/data/sc-v2-test-dev", folds=(0, 1)),
            "FSDD": fsdd_clips("../shared/data/fsdd")}
    codes = {k: scaling.to_uint8(mfcc(c.waves))[..., None].astype(np.float32)
             for k, c in sets.items()}
    for name in names:
        model = load_keras(f"{run}/{name}")
        for key, clips in sets.items():
            s = np.asarray(model.predict(codes[key], batch_size=500, verbose=0))
            if key == "FSDD":
                cols = [words.index(w) for w in DIGITS]
                pred, truth = [DIGITS[i] for i in s[:, cols].argmax(1)], clips.words
                what = "among the ten digits"
            else:
                pred = [twelve_class_of(words[i]) for i in s.argmax(1)]
                truth, what = [twelve_class_of(w) for w in clips.words], "12 classes"
            acc = 100 * np.mean([p == t for p, t in zip(pred, truth)])
            print(f"{name}: {key}, {what}: {acc:.1f} %")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
