"""Quantized Keras DS-CNN -> golden model: exact by construction, checked three ways.

The model here is not trained (training is in test_train_pipeline.py): random weights,
batch-norm scales with some negative signs, statistics and steps calibrated on MFCC-like
inputs by prepare_qat. Every integer path (8-bit input conv, flipped depthwise,
sign-flipped channels, pooled sum, dense logits) is exercised all the same.
"""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgekws.convert import ConversionError, compare, to_golden  # noqa: E402
from edgekws.golden import Model  # noqa: E402
from edgekws.golden.zoo import mfcc_like_inputs  # noqa: E402
from edgekws.train.model import build_ds_cnn, prepare_qat  # noqa: E402

FILTERS = 16


@pytest.fixture(scope="module")
def models():
    model = build_ds_cnn(5, filters=FILTERS, seed=3)
    rng = np.random.default_rng(3)
    for block in model.blocks:
        gamma = rng.uniform(0.5, 2.0, FILTERS) * np.where(rng.random(FILTERS) < 0.3, -1, 1)
        block.bn.gamma.assign(gamma.astype(np.float32))
        block.bn.beta.assign(rng.normal(0, 0.5, FILTERS).astype(np.float32))
    x = mfcc_like_inputs(300, seed=5)
    prepare_qat(model, x[:200])
    return model, to_golden(model), x


def test_conversion_is_exact(models):
    model, golden, x = models
    rep = compare(model, golden, x)
    for name, v in rep["layers"].items():
        assert v["activation_agreement"] == 1.0, name
        assert v["sample_agreement"] == 1.0, name
    assert rep["logits_equal"] == 1.0
    assert rep["class_agreement"] == 1.0 and rep["mismatch_indices"] == []


def test_activations_are_lively(models):
    # A conversion check on all-zero activations would prove nothing.
    model, _, x = models
    outs = model.quantized_outputs(x[:100].astype(np.float32))
    for codes in outs[:4]:
        assert 0.05 < (codes > 0).mean() < 0.95 and codes.max() > 1
    assert 0.05 < outs[4].mean() < 0.95


def test_golden_variables(models):
    model, golden, _ = models
    for layer in golden.layers:
        step = layer.get_variable("act_step")
        if layer.name != "dense_5":
            assert np.array_equal(step * 16, np.rint(step * 16)), layer.name
        assert step.min() >= 1 / 16
    conv0 = golden.get_layer("conv_0").get_variable("weights")
    assert np.abs(conv0).max() == 127          # 8-bit weights use their range
    sep = golden.get_layer("separable_2")
    assert np.abs(sep.get_variable("weights")).max() == 7
    # Negative batch-norm scales became negated weight columns.
    kernels, _ = model.blocks[0].integer_weights()
    gamma = model.blocks[0].bn.gamma.numpy()
    flip = np.where(gamma < 0, -1, 1)
    assert (flip < 0).any()
    assert np.array_equal(conv0, (np.asarray(kernels[0]) * flip).astype(np.int8))


def test_depthwise_flip_and_sign_are_needed(models):
    # The checks above could pass by luck only if they were blind: break the model.
    model, golden, x = models
    broken = Model([type(l)(**l.get_config()) for l in golden.layers])
    for src, dst in zip(golden.layers, broken.layers):
        for name in src.get_variable_names():
            dst.set_variable(name, src.get_variable(name))
    layer = broken.get_layer("separable_1")
    layer.set_variable("weights", layer.get_variable("weights")[::-1, ::-1].copy())
    rep = compare(model, broken, x[:100])
    assert rep["layers"]["conv_0"]["activation_agreement"] == 1.0
    assert rep["layers"]["separable_1"]["activation_agreement"] < 0.99


def test_matches_the_akida_engine(models):
    akida = pytest.importorskip("akida")
    from edgekws.golden.engine import to_engine

    model, golden, x = models
    engine = to_engine(golden)
    assert isinstance(engine, akida.Model)
    k_logits = model.quantized_outputs(x[:64].astype(np.float32))[-1]
    e_logits = engine.predict(x[:64]).reshape(64, -1)
    assert np.array_equal(e_logits, k_logits)


def test_saved_model_round_trip(models, tmp_path):
    from edgekws.golden.fileformat import save

    _, golden, x = models
    save(golden, tmp_path / "m.ekws", extra={"words": ["a", "b", "c", "d", "e"]})
    loaded = Model(str(tmp_path / "m.ekws"))
    assert loaded.extra["words"] == ["a", "b", "c", "d", "e"]
    assert np.array_equal(loaded.predict(x[:50]), golden.predict(x[:50]))


def test_errors(models):
    model, golden, x = models
    with pytest.raises(ConversionError, match="float mode"):
        to_golden(build_ds_cnn(3, filters=4))
    with pytest.raises(ConversionError, match="not Model"):
        to_golden(golden)
    with pytest.raises(ValueError, match="uint8 MFCC codes, not float32"):
        compare(model, golden, x.astype(np.float32))
    with pytest.raises(ValueError, match="labels must have 10 entries"):
        compare(model, golden, x[:10], labels=np.zeros(9))


def test_learning_units_ends_with_a_binary_layer(models):
    model, _, _ = models
    g = to_golden(model, learning_units=True)
    last = g.layers[-1]
    assert last.weights_bits == 1 and last.units == 5 and last.input_bits == 1


def test_convert_gives_the_same_golden_model(models):
    from edgekws.convert import convert
    model, golden, x = models
    other = convert(model)
    assert [l.get_config() for l in other.layers] == [l.get_config() for l in golden.layers]
    for a, b in zip(golden.layers, other.layers):
        for name in a.get_variable_names():
            np.testing.assert_array_equal(a.get_variable(name), b.get_variable(name))
    np.testing.assert_array_equal(golden.predict(x[:50]), other.predict(x[:50]))
