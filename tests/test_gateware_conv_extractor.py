"""The DS-CNN extractor's elaboration-time checks, host packing and committed Verilog.

The bit-exact behaviour is tested in simulation: ``sim/test_conv_extractor.py``
(Verilator) and ``tests/test_gateware_conv_step.py`` (the activation unit).
"""
import numpy as np
import pytest

from edgekws.gateware.conv import DSCNNExtractor, ExtractorSpec, kws_spec
from edgekws.gateware.conv import codec
from edgekws.gateware.conv.configs import CONFIGS, unit_a
from edgekws.gateware.unused import never_elaborated
from edgekws.golden.layers import (FullyConnected, InputConvolutional, InputData,
                                   PoolType, SeparableConvolutional)
from edgekws.golden.model import Model
from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize


def test_kws_geometry_and_mac_count():
    spec = kws_spec()
    assert [g.kind for g in spec.layers] == ["conv", "sep", "sep", "sep", "sep"]
    assert spec.layers[0].pads == ((2, 2), (1, 2))      # the TF split of Same
    assert spec.layers[0].out_xy == (25, 5)
    assert spec.pooled and spec.out_bits == 1
    # 25*5*64*25 + 4 * (25*5*64*9 + 25*5*64*64)
    assert spec.macs() == 200_000 + 4 * (72_000 + 512_000)
    # Widths from the golden ranges: |pot| <= 25*255*128 -> 21 bits signed.
    assert spec.acc_width == 21 and spec.dw_width == 11


@pytest.mark.parametrize("kwargs, match", [
    (dict(lanes=0), "lanes must be an integer >= 1, not 0"),
    (dict(lanes=3), "lanes must divide the number of filters \\(64\\), not 3"),
    (dict(lanes=True), "lanes must be an integer >= 1, not True"),
    (dict(lanes=16, act_units=3), "act_units must divide lanes \\(16\\), not 3"),
    (dict(act_units=0), "act_units must be an integer >= 1, not 0"),
    (dict(step_bits=4), "step_bits must be an integer in \\[5, 26\\], not 4"),
    (dict(step_bits=40), "step_bits must be an integer in \\[5, 26\\], not 40"),
    (dict(mult="dsp48"), "mult must be one of \\('auto', 'generic', 'ecp5'\\), not 'dsp48'"),
])
def test_parameter_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DSCNNExtractor(**kwargs)


def test_mult_kinds_in_verilog():
    """``mult``: generic products in the committed RTL, one MULT18X18D with its output
    register per lane for ECP5, and ``auto`` is generic without an ECP5 platform."""
    from amaranth.back import verilog
    cfg = CONFIGS["dscnn_unit_a"]
    text = {k: verilog.convert(DSCNNExtractor(cfg.spec(), lanes=cfg.lanes,
                                              act_units=cfg.act_units, mult=k),
                               name="t", emit_src=False) for k in ("generic", "ecp5", "auto")}
    assert "MULT18X18D" not in text["generic"]
    assert text["auto"] == text["generic"]
    assert text["ecp5"].count("MULT18X18D #(") == cfg.lanes
    assert text["ecp5"].count('.REG_OUTPUT_CLK("CLK0")') == cfg.lanes


def test_spec_type_error():
    with pytest.raises(TypeError, match="spec must be an ExtractorSpec"):
        DSCNNExtractor(ds_cnn_kws(units=None))


def _conv(**kw):
    return InputConvolutional((9, 6, 1), (3, 3), 8, name="conv_0", weights_bits=8,
                              act_bits=4, **kw)


@pytest.mark.parametrize("layers, match", [
    ([InputData((9, 6, 4), 4), SeparableConvolutional((3, 3), 8, name="s")],
     "must start with an InputConvolutional layer, not InputData"),
    ([_conv(pool_type=PoolType.Max, pool_size=(2, 2))], "pool_type Max is not supported"),
    ([_conv(activation=False)], "activation=False is not supported"),
    ([_conv(), SeparableConvolutional((3, 3), 16, name="s", weights_bits=4, act_bits=4)],
     "layer 1 has 16 filters: every layer must have 8"),
    ([_conv(pool_type=PoolType.Average),
      SeparableConvolutional((1, 1), 8, name="s", weights_bits=4, act_bits=4)],
     "layer 0 pools globally: only the last layer may"),
])
def test_spec_errors(layers, match):
    with pytest.raises(ValueError, match=match):
        ExtractorSpec.from_model(Model(layers))


def test_spec_ignores_fully_connected_head():
    assert ExtractorSpec.from_model(ds_cnn_kws(units=33)) == kws_spec()


def test_spec_from_ekws_file(tmp_path):
    m = ds_cnn_kws(units=None)
    m.save(tmp_path / "m.ekws")
    assert ExtractorSpec.from_model(tmp_path / "m.ekws") == kws_spec()


def test_host_images_match_layout():
    cfg = CONFIGS["dscnn_unit_a"]
    ext = never_elaborated(cfg.extractor())
    rng = np.random.default_rng(0)
    model = randomize(unit_a(), rng.integers(0, 256, (16, 13, 7, 2)).astype(np.uint8), 1)
    w = codec.weight_words(ext, model)
    assert len(w) == ext.w_depth and max(w) < 1 << ext.w_width
    # Depthwise rows hold the flipped kernel: tap (0, 0) is weights[2, 2].
    wd = model.layers[1].get_variable("weights")
    dw_base = ext.w_base[1][0]
    lane0 = w[dw_base] & 0xFF
    assert (lane0 - 256 if lane0 > 127 else lane0) == wd[2, 2, 0, 0]
    beats = codec.load_beats(ext, model)
    assert len(beats) == (ext.w_depth * ext.chunks(codec.Sel.WEIGHTS) +
                          ext.param_depth * ext.chunks(codec.Sel.PARAMS))
    px = codec.pixel_beats(ext, rng.integers(0, 256, (13, 7, 2)).astype(np.uint8))
    assert len(px) == 13 * 7 and max(px) < 1 << 16


def test_host_refuses_other_geometry():
    ext = never_elaborated(CONFIGS["dscnn_unit_a"].extractor())
    with pytest.raises(ValueError, match="geometry differs"):
        codec.weight_words(ext, ds_cnn_kws(units=None))


def test_host_refuses_wide_step():
    m = randomize(ds_cnn_kws(units=None), mfcc_like_inputs(8), 0)
    ext = never_elaborated(DSCNNExtractor(lanes=64))
    steps = m.layers[2].get_variable("act_step")
    steps[5] = 70000.0
    m.layers[2].set_variable("act_step", steps)
    with pytest.raises(ValueError, match="layer 'separable_2' neuron 5: act_step 70000.0"):
        codec.param_words(ext, m)
    # 1-bit layers ignore the step: any act_step is fine there.
    steps = m.layers[4].get_variable("act_step")
    steps[:] = 1e9
    m.layers[4].set_variable("act_step", steps)
    assert codec.integer_steps(m.layers[4], 20).tolist() == [1] * 64


def test_pixel_beats_check_shape():
    ext = never_elaborated(DSCNNExtractor(lanes=64))
    with pytest.raises(ValueError, match="image must be uint8 of shape \\(49, 10, 1\\)"):
        codec.pixel_beats(ext, np.zeros((49, 10), np.uint8))
