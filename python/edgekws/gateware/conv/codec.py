"""The extractor's stream codec: memory images and stream beats from a golden model.

The gateware holds the geometry; everything a trained model changes (weights,
thresholds, steps) is loaded through the ``load`` stream. This module turns a golden
:class:`edgekws.golden.Model` (or a ``.ekws`` file) into those beats, encodes images
into ``pixels`` beats and decodes ``spikes`` and ``trace`` payloads. The layouts are
read from the :class:`.DSCNNExtractor` object itself, so host and gateware cannot
disagree.
"""
from __future__ import annotations

import os

import numpy as np

from ...golden.quant import integer_step
from .extractor import LOAD_CHUNK, DSCNNExtractor, Sel
from .spec import ACT_SLOT, PIXEL_BITS, WEIGHT_SLOT, ExtractorSpec
from .step import THRESHOLD_BITS

__all__ = ["conv_layers", "integer_steps", "weight_words", "param_words", "load_beats",
           "pixel_beats", "decode_trace", "decode_spikes", "field_offsets"]


def _model(model):
    from ...golden import Model
    return Model(model) if isinstance(model, (str, os.PathLike)) else model


def conv_layers(ext: DSCNNExtractor, model) -> list:
    """The golden layers the extractor runs, checked against its geometry."""
    model = _model(model)
    spec = ExtractorSpec.from_model(model)
    if spec != ext.spec:
        raise ValueError("the model's geometry differs from the extractor's: "
                         f"{spec} != {ext.spec}")
    return model.layers[:len(spec.layers)]


def integer_steps(layer, step_bits: int) -> np.ndarray:
    """:func:`~edgekws.golden.quant.integer_step` of every neuron, checked to fit in
    ``step_bits``.

    Raises
    ------
    ValueError
        Naming the layer, the neuron and the act_step that does not fit.
    """
    act_step = layer.get_variable("act_step")
    S = integer_step(act_step, layer.act_bits)
    bad = np.nonzero(S >= (1 << step_bits))[0]
    if bad.size:
        f = int(bad[0])
        raise ValueError(f"layer {layer.name!r} neuron {f}: act_step {float(act_step[f])!r} gives "
                         f"the integer step {int(S[f])}, which needs more than "
                         f"step_bits={step_bits} bits")
    return S


def weight_words(ext: DSCNNExtractor, model) -> list[int]:
    """The weight memory image, one Python int per word (lane ``l`` in byte ``l``)."""
    L, G, F = ext.lanes, ext.groups, ext.spec.filters
    rows = np.zeros((ext.w_depth, L), np.int64)
    for li, (layer, geom) in enumerate(zip(conv_layers(ext, model), ext.spec.layers)):
        kx, ky = geom.kernel
        if geom.kind == "conv":
            w = layer.get_variable("weights")                   # (kx, ky, C, F)
            C = geom.in_shape[2]
            base = ext.w_base[li][0]
            for g in range(G):
                for i in range(kx):
                    for j in range(ky):
                        for c in range(C):
                            rows[base + g * geom.taps * C + (i * ky + j) * C + c] = \
                                w[i, j, c, g * L:(g + 1) * L]
        else:
            wd = layer.get_variable("weights")                  # (kx, ky, C, 1)
            wpw = layer.get_variable("weights_pw")              # (1, 1, C, F)
            dw_base, pw_base = ext.w_base[li]
            for g in range(G):
                for i in range(kx):
                    for j in range(ky):
                        # A true convolution: the tap at input offset (i, j) uses the
                        # flipped kernel; the gateware then needs no flip.
                        rows[dw_base + g * geom.taps + i * ky + j] = \
                            wd[kx - 1 - i, ky - 1 - j, g * L:(g + 1) * L, 0]
                for c in range(F):
                    rows[pw_base + g * F + c] = wpw[0, 0, c, g * L:(g + 1) * L]
    return [_pack(r, WEIGHT_SLOT) for r in rows]


def param_words(ext: DSCNNExtractor, model) -> list[int]:
    """The neuron parameter memory image: ``threshold | S << 32`` per neuron."""
    A, F = ext.act_units, ext.spec.filters
    words = []
    for layer in conv_layers(ext, model):
        th = layer.get_variable("threshold").astype(np.int64)
        S = integer_steps(layer, ext.step_bits)
        slots = (th & ((1 << THRESHOLD_BITS) - 1)) | (S << THRESHOLD_BITS)
        for k in range(F // A):
            words.append(_pack(slots[k * A:(k + 1) * A], ext.param_slot))
    return words


def _pack(values, width: int) -> int:
    mask = (1 << width) - 1
    v = 0
    for k, x in enumerate(values):
        v |= (int(x) & mask) << (k * width)
    return v


def field_offsets(layout) -> dict:
    """``name -> (offset, width)`` of a struct layout."""
    return {n: (f.offset, f.width) for n, f in layout}


def load_beats(ext: DSCNNExtractor, model) -> list[int]:
    """Every ``load`` payload (as an int) that puts ``model`` into the extractor."""
    fo = field_offsets(ext.load_layout)

    def beat(sel, addr, data, commit):
        v = 0
        for name, val in (("sel", sel.value), ("addr", addr), ("data", data),
                          ("commit", commit)):
            off, width = fo[name]
            v |= (int(val) & ((1 << width) - 1)) << off
        return v

    beats = []
    for sel, words in ((Sel.WEIGHTS, weight_words(ext, model)),
                       (Sel.PARAMS, param_words(ext, model))):
        n = ext.chunks(sel)
        for addr, word in enumerate(words):
            for k in range(n):
                beats.append(beat(sel, addr, (word >> (k * LOAD_CHUNK)) & 0xFFFFFFFF,
                                  k == n - 1))
    return beats


def pixel_beats(ext: DSCNNExtractor, image: np.ndarray) -> list[int]:
    """``pixels`` payloads of one uint8 ``(X, Y, C)`` image, positions in C order."""
    X, Y, C = ext.spec.image_shape
    image = np.asarray(image)
    if image.shape != (X, Y, C) or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 of shape {(X, Y, C)}, not "
                         f"{image.dtype} {image.shape}")
    return [_pack(px, PIXEL_BITS) for px in image.reshape(X * Y, C)]


def decode_trace(ext: DSCNNExtractor, payload: int) -> tuple[int, int, np.ndarray]:
    """``(layer, pos, activations)`` of a ``trace`` payload."""
    fo = field_offsets(ext.trace_layout)

    def get(name):
        off, width = fo[name]
        return (payload >> off) & ((1 << width) - 1)
    word = get("data")
    acts = np.array([(word >> (ACT_SLOT * f)) & 0xF for f in range(ext.spec.filters)],
                    np.uint8)
    return get("layer"), get("pos"), acts


def decode_spikes(ext: DSCNNExtractor, payload: int) -> np.ndarray:
    """The ``filters`` outputs of a ``spikes`` payload (uint8)."""
    b = ext.spec.out_bits
    return np.array([(payload >> (b * f)) & ((1 << b) - 1)
                     for f in range(ext.spec.filters)], np.uint8)
