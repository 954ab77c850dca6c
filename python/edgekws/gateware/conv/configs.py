"""The extractor configurations that are turned into Verilog and simulated.

Each configuration is a golden model *skeleton* (geometry only, weights at zero) and
the extractor's parameters. Besides the product (``dscnn_kws``), two small
configurations with odd shapes exercise what the product geometry does not: several
lane groups, multi-channel images, non-square kernels and strides, a non-zero
``padding_value``, ``Valid`` padding, 2-bit activations and a last layer without
pooling. Their Verilog is small, so their Verilator builds are quick; it is not committed
(the tests generate it into ``build/``), only the product's ``rtl/dscnn_kws.v`` is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...golden.layers import InputConvolutional, PoolType, SeparableConvolutional
from ...golden.model import Model
from ...golden.zoo import ds_cnn_kws
from .extractor import DSCNNExtractor
from .spec import ExtractorSpec

__all__ = ["Config", "CONFIGS", "unit_a", "unit_b"]


def unit_a() -> Model:
    """13x7x2 image, 5x3 kernel, stride (2, 1), 16 filters; Sep; Sep pooled, 1 bit."""
    m = Model()
    m.add(InputConvolutional((13, 7, 2), (5, 3), 16, name="conv_0", kernel_stride=(2, 1),
                             weights_bits=8, act_bits=4))
    m.add(SeparableConvolutional((3, 3), 16, name="separable_1", weights_bits=4,
                                 act_bits=4))
    m.add(SeparableConvolutional((3, 5), 16, name="separable_2", weights_bits=4,
                                 act_bits=1, pool_type=PoolType.Average))
    return m


def unit_b() -> Model:
    """11x9x1 image padded with 5, stride (1, 2); Sep Valid 2-bit; Sep stride 2, 4 bits
    without pooling."""
    m = Model()
    m.add(InputConvolutional((11, 9, 1), (3, 3), 8, name="conv_0", kernel_stride=(1, 2),
                             weights_bits=8, act_bits=4, padding_value=5))
    m.add(SeparableConvolutional((3, 3), 8, name="separable_1", weights_bits=4,
                                 act_bits=2, padding="Valid"))
    m.add(SeparableConvolutional((3, 3), 8, name="separable_2", weights_bits=4,
                                 act_bits=4, kernel_stride=(2, 2)))
    return m


@dataclass(frozen=True)
class Config:
    """One generated Verilog module."""
    model: Callable[[], Model]
    lanes: int
    act_units: int

    def spec(self) -> ExtractorSpec:
        return ExtractorSpec.from_model(self.model())

    def extractor(self, **kwargs) -> DSCNNExtractor:
        """The extractor; ``kwargs`` go to :class:`DSCNNExtractor` (for example
        ``poison_collisions``)."""
        return DSCNNExtractor(self.spec(), lanes=self.lanes, act_units=self.act_units,
                              **kwargs)


#: module name -> configuration
CONFIGS = {
    "dscnn_kws": Config(lambda: ds_cnn_kws(units=None), lanes=64, act_units=4),
    "dscnn_unit_a": Config(unit_a, lanes=8, act_units=2),
    "dscnn_unit_b": Config(unit_b, lanes=8, act_units=8),
}
