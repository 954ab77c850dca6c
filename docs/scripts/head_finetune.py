"""Fine-tune only the 4-bit dense head of a trained QAT model on its frozen spikes
(docs/real-speech.md, "A longer quantization-aware training": the head-only candidate).

Run:  .venv/bin/python docs/scripts/head_finetune.py build/final build/headft.ekws 15 0.0005
      (about 3 min here; needs the corpora and feature cache of `make train`)

The spikes of the training and validation splits are computed once with the golden
extractor; the head (``DSCNN.dense``, quantized mode, straight-through 4-bit weights)
trains on them with Adam and a cosine decay, and the epoch with the best validation
accuracy is kept. The model is converted with the extractor untouched: its spikes are
checked equal to the original's before the file is written, so the enrolment figures
stay the original model's.
"""
import sys

import numpy as np

from edgekws.train.tfsetup import tensorflow

tensorflow()
import keras  # noqa: E402

from edgekws.convert import to_golden  # noqa: E402
from edgekws.golden import Model  # noqa: E402
from edgekws.golden.fileformat import save  # noqa: E402
from edgekws.train.dataset import load_corpus  # noqa: E402
from edgekws.train.model import load_keras  # noqa: E402

ROOTS = ["build/corpus-s200", "build/mix-all", "build/mix-sc12"]   # the shipped recipe's


def main(src, out, epochs, lr):
    keras.utils.set_random_seed(0)          # the shuffles: the same run every time
    data = load_corpus(ROOTS, "build/feat", level="c0-max", seed=0, progress=False)
    extractor = Model(f"{src}/ds_cnn_kws.ekws")
    extractor.pop_layer()

    def spikes(x):
        return extractor.forward(x).reshape(len(x), -1).astype(np.float32)

    s_train, s_val = spikes(data.x_train), spikes(data.x_val)
    model = load_keras(f"{src}/keras")
    head = model.dense
    inputs = keras.Input((s_train.shape[1],))
    net = keras.Model(inputs, head(inputs))
    steps = -(-len(s_train) // 100) * epochs
    net.compile(optimizer=keras.optimizers.Adam(
                    keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.05)),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    print("validation before", net.evaluate(s_val, data.y_val, verbose=0)[1])
    best, kept = -1.0, None
    for epoch in range(epochs):
        net.fit(s_train, data.y_train, batch_size=100, epochs=1, verbose=0, shuffle=True)
        acc = net.evaluate(s_val, data.y_val, verbose=0)[1]
        print("epoch", epoch, acc, flush=True)
        if acc > best:
            best, kept = acc, [w.numpy().copy() for w in head.weights]
    for w, v in zip(head.weights, kept):
        w.assign(v)
    golden = to_golden(model)
    same = to_golden(model)
    same.pop_layer()
    if not np.array_equal(same.forward(data.x_val[:500]), extractor.forward(data.x_val[:500])):
        raise SystemExit("the extractor's spikes changed: not written")
    save(golden, out, extra=Model(f"{src}/ds_cnn_kws.ekws").extra)
    print("wrote", out, "best validation", best)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
