"""Training of the DS-CNN keyword spotter: float training, then quantization-aware training.

Modules
-------
tfsetup   TensorFlow import with thread limits and quiet logs (import this first)
quant     straight-through fake-quantizers and the numpy step-size search
layers    quantizable Keras blocks: Conv+BN+ReLU, Separable+BN+ReLU, Dense
model     the DS-CNN (:func:`build_ds_cnn`) and the float -> QAT switch
dataset   Speech Commands-layout corpus -> uint8 MFCC arrays (via :mod:`edgekws.data`)
pipeline  float -> QAT -> conversion -> reports (``edgekws train``)
report    confusion matrix, JSON and markdown reports
cli       the ``edgekws train`` command

The quantized Keras model computes, in its forward pass, exactly the integers that the
golden model (:mod:`edgekws.golden`) computes: see :mod:`edgekws.convert`.
Nothing here is imported by ``import edgekws.train``; TensorFlow loads on first use.
"""
