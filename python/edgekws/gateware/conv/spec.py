"""Geometry of the DS-CNN feature extractor, taken from a golden model.

The gateware is generated for a fixed geometry (shapes, kernels, strides, padding,
bit widths); the weights, thresholds and steps are loaded at run time. An
:class:`ExtractorSpec` is that geometry: it is built from a golden
:class:`edgekws.golden.Model` (or a ``.ekws`` file) with
:meth:`ExtractorSpec.from_model`, which refuses what the gateware does not implement,
and it derives every datapath width from the value ranges of the golden layers, so
that no sum can overflow.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from amaranth.utils import bits_for

from ...golden import ops
from ...golden.layers import (InputConvolutional, Padding, PoolType,
                              SeparableConvolutional)
from ...golden.quant import ACT_BITS, POTENTIAL_BITS, weight_range

__all__ = ["LayerGeom", "ExtractorSpec", "kws_spec"]

#: Width of a stored activation (one channel) whatever the layer's act_bits.
ACT_SLOT = 4
#: Width of a weight slot in the weight memory (InputConvolutional weights are 8-bit).
WEIGHT_SLOT = 8
#: Width of one input pixel channel (uint8).
PIXEL_BITS = 8


def _signed_bits(bound: int) -> int:
    """Bits of a signed value in ``[-bound, bound]``."""
    return bits_for(bound) + 1


@dataclass(frozen=True)
class LayerGeom:
    """Geometry of one layer as the gateware sees it.

    Attributes
    ----------
    kind : {"conv", "sep"}
        InputConvolutional or SeparableConvolutional.
    in_shape : (int, int, int)
        Input ``(X, Y, C)``.
    filters : int
    kernel, stride : (int, int)
    pads : ((int, int), (int, int))
        ``((before_x, after_x), (before_y, after_y))`` as in :func:`ops.conv_geometry`.
    out_xy : (int, int)
        Output positions ``(OX, OY)`` before pooling.
    in_bits : int
        8 for the image, else the previous layer's act_bits.
    weights_bits, act_bits : int
    pooled : bool
        Global (sum) pooling: the output is ``(1, 1, filters)``.
    padding_value : int
        Value of padded pixels (InputConvolutional only; 0 for separable layers).
    """
    kind: str
    in_shape: tuple
    filters: int
    kernel: tuple
    stride: tuple
    pads: tuple
    out_xy: tuple
    in_bits: int
    weights_bits: int
    act_bits: int
    pooled: bool
    padding_value: int = 0

    @property
    def positions(self) -> int:
        return self.out_xy[0] * self.out_xy[1]

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def in_max(self) -> int:
        return (1 << self.in_bits) - 1

    @property
    def w_max(self) -> int:
        lo, hi = weight_range(self.weights_bits)
        return max(-lo, hi)

    def tap_range(self, axis: int, o: int) -> tuple[int, int]:
        """Kernel offsets ``(lo, hi)`` (inclusive) that fall inside the input at output
        coordinate ``o`` of ``axis`` (0: x, 1: y): the taps the sequencer visits.

        With a non-zero ``padding_value`` every tap is visited (the padded pixels count).
        """
        k, s, before = self.kernel[axis], self.stride[axis], self.pads[axis][0]
        if self.padding_value:
            return 0, k - 1
        size = self.in_shape[axis]
        lo = max(0, before - o * s)
        hi = min(k - 1, size - 1 + before - o * s)
        return lo, hi

    def macs(self) -> int:
        """Multiply-accumulates of the layer computed densely (padding included)."""
        X, Y, C = self.in_shape
        n = self.positions
        if self.kind == "conv":
            return n * self.filters * self.taps * C
        return n * C * self.taps + n * C * self.filters

    # -- value bounds (exact integers, from the golden ranges) -----------------------
    def dw_bound(self) -> int:
        """Largest ``|d|`` of the depthwise sums (separable layers)."""
        return self.taps * self.in_max * self.w_max

    def pot_bound(self) -> int:
        """Largest ``|potential|`` at one position (before pooling)."""
        X, Y, C = self.in_shape
        if self.kind == "conv":
            return self.taps * C * max(self.in_max, self.padding_value) * self.w_max
        return C * self.dw_bound() * self.w_max


@dataclass(frozen=True)
class ExtractorSpec:
    """The layers of a feature extractor: an InputConvolutional then separable layers.

    Every layer has the same number of filters ``F``; only the last may pool.
    """
    layers: tuple

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_model(cls, model) -> "ExtractorSpec":
        """Geometry of a golden model (or the path of a ``.ekws`` file).

        A trailing FullyConnected layer (the learning layer) is ignored: the extractor
        stops at the last convolutional layer.

        Raises
        ------
        ValueError
            Naming the layer and the value the gateware does not support.
        """
        from ...golden import Model
        if isinstance(model, (str, os.PathLike)):
            model = Model(model)
        geoms = []
        for layer in model.layers:
            if isinstance(layer, InputConvolutional):
                kind = "conv"
            elif isinstance(layer, SeparableConvolutional):
                kind = "sep"
            elif geoms:
                break          # FullyConnected head: not part of the extractor
            else:
                raise ValueError(f"the extractor must start with an InputConvolutional "
                                 f"layer, not {type(layer).__name__} {layer.name!r}")
            geoms.append(_geom(layer, kind))
        return cls(tuple(geoms)).checked()

    def checked(self) -> "ExtractorSpec":
        """Check the cross-layer rules; return ``self``."""
        if not self.layers:
            raise ValueError("the extractor needs at least one layer")
        for i, g in enumerate(self.layers):
            if (g.kind == "conv") != (i == 0):
                raise ValueError(f"layer {i} is {g.kind!r}: the first layer must be the "
                                 f"InputConvolutional and the others separable")
            if g.filters != self.filters:
                raise ValueError(f"layer {i} has {g.filters} filters: every layer must "
                                 f"have {self.filters}, as the first")
            if g.pooled and i != len(self.layers) - 1:
                raise ValueError(f"layer {i} pools globally: only the last layer may")
            if i and g.in_shape != (*self.layers[i - 1].out_xy, self.filters):
                raise ValueError(f"layer {i} input {g.in_shape} does not follow layer "
                                 f"{i - 1}")
        return self

    # -- sizes ---------------------------------------------------------------------------
    @property
    def filters(self) -> int:
        return self.layers[0].filters

    @property
    def image_shape(self) -> tuple:
        return self.layers[0].in_shape

    @property
    def out_bits(self) -> int:
        return self.layers[-1].act_bits

    @property
    def pooled(self) -> bool:
        return self.layers[-1].pooled

    @property
    def max_positions(self) -> int:
        return max(g.positions for g in self.layers)

    def macs(self) -> int:
        """Total multiply-accumulates of one inference, computed densely."""
        return sum(g.macs() for g in self.layers)

    # -- datapath widths -------------------------------------------------------------------
    @property
    def dw_width(self) -> int:
        """Signed width of a depthwise sum (the pointwise operand)."""
        seps = [g.dw_bound() for g in self.layers if g.kind == "sep"]
        return _signed_bits(max(seps, default=1))

    @property
    def operand_width(self) -> int:
        """Signed width of the broadcast MAC operand: a pixel (or its padding value), a
        4-bit activation or a depthwise sum."""
        return max(bits_for(255) + 1, self.dw_width)

    @property
    def acc_width(self) -> int:
        """Signed width of the accumulators: every potential and depthwise sum fits."""
        return max(_signed_bits(max(g.pot_bound() for g in self.layers)), self.dw_width)

    @property
    def pot_width(self) -> int:
        """Signed width of a potential after the optional 20-bit pooled sum."""
        return max(self.acc_width, POTENTIAL_BITS)


def _geom(layer, kind: str) -> LayerGeom:
    where = f"layer {layer.name!r}"
    if not layer.activation:
        raise ValueError(f"{where}: activation=False is not supported by the extractor "
                         f"(it outputs activations)")
    if layer.pool_type == PoolType.Max:
        raise ValueError(f"{where}: pool_type Max is not supported by the extractor")
    if layer.act_bits not in ACT_BITS:  # pragma: no cover - the golden layer checks it
        raise ValueError(f"{where}: act_bits {layer.act_bits!r}")
    if any(k % 2 == 0 for k in layer.kernel_size):
        raise ValueError(f"{where}: kernel_size {layer.kernel_size} must be odd")
    out, pads = ops.conv_geometry(layer.input_dims[:2], layer.kernel_size,
                                  layer.kernel_stride, layer.padding == Padding.Same)
    if kind == "conv":
        in_bits, pad_value = 8, layer.padding_value
        if layer.input_dims[2] > 4:
            raise ValueError(f"{where}: {layer.input_dims[2]} input channels: at most 4")
    else:
        in_bits, pad_value = layer.input_bits, 0
    return LayerGeom(kind=kind, in_shape=tuple(layer.input_dims), filters=layer.filters,
                     kernel=tuple(layer.kernel_size), stride=tuple(layer.kernel_stride),
                     pads=tuple(tuple(p) for p in pads), out_xy=tuple(out),
                     in_bits=in_bits, weights_bits=layer.weights_bits,
                     act_bits=layer.act_bits, pooled=layer.pool_type == PoolType.Average,
                     padding_value=pad_value)


def kws_spec() -> ExtractorSpec:
    """The product geometry: :func:`edgekws.golden.zoo.ds_cnn_kws` without its head."""
    from ...golden.zoo import ds_cnn_kws
    return ExtractorSpec.from_model(ds_cnn_kws(units=None))
