"""Quickstart: the golden model, its native learning, and the engine agreeing bit for bit.

Run: .venv/bin/python examples/golden_quickstart.py
"""
import numpy as np

import edgekws.golden as g
from edgekws.golden.engine import to_engine
from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize

# A DS-CNN feature extractor (random but lively weights stand in for a trained one)
# topped by a binary FullyConnected layer: 10 classes x 4 neurons.
model = randomize(ds_cnn_kws(units=None), mfcc_like_inputs(256, seed=1), seed=2)
model.add(g.FullyConnected(10 * 4, name="edge", activation=False))
model.compile(g.AkidaUnsupervised(num_weights=24, num_classes=10, learning_competition=0.1),
              seed=0)
model.summary()

x = mfcc_like_inputs(500, seed=3)
labels = np.arange(500) % 10
model.fit(x, labels)
print("learned neurons:", int((model.get_layer("edge").get_variable("threshold_learning") > 0).sum()),
      "of", model.get_layer("edge").units)

# The same model in the akida engine gives the same outputs, element for element.
engine = to_engine(model)
same = np.array_equal(engine.forward(x), model.forward(x))
print("golden == akida engine on", len(x), "samples:", same)
model.save("/tmp/quickstart.ekws")
print("reloaded classes equal:", np.array_equal(g.Model("/tmp/quickstart.ekws").predict_classes(x, 10),
                                                model.predict_classes(x, 10)))
