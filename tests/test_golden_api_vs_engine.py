"""The descriptive Model/Layer API and the acceptance rules, golden against the akida engine.

Covers ``evaluate``, ``statistics``, ``macs``, ``layer_count``, ``to_dict``/``from_dict``/
``to_json``/``from_json``, layer ``parameters``/``variables``/``inbounds``, spatial
``predict_classes``, and each place where golden and the engine used to accept or refuse
different things (``docs/golden.md`` lists the deliberate ones).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import edgekws.golden as golden
from akida_twins import _engine_kwargs, assert_same, build_pair, random_input, randomize

akida = pytest.importorskip("akida")

SMALL_CNN = [
    ("InputConvolutional", dict(input_shape=(11, 7, 2), kernel_size=(3, 5), filters=6,
                                kernel_stride=(2, 1), weights_bits=8, act_bits=4,
                                padding_value=3)),
    ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=5, weights_bits=4, act_bits=2,
                                    pool_type=1, pool_size=(2, 2))),
    ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=8, weights_bits=2, act_bits=1,
                                    pool_type=2)),
    ("FullyConnected", dict(units=12, weights_bits=1, activation=False)),
]


def _random_pair(spec, seed, n=64):
    rng = np.random.default_rng(seed)
    eng, gold = build_pair(spec)
    x = random_input(gold, rng, n)
    randomize(eng, gold, rng, x)
    return eng, gold, x, rng


def _raises_both(fn_engine, fn_golden, golden_msg):
    with pytest.raises((ValueError, RuntimeError, TypeError)):
        fn_engine()
    with pytest.raises((ValueError, TypeError), match=golden_msg):
        fn_golden()


# -- layer members ------------------------------------------------------------------------------
def test_layer_parameters_variables_inbounds_match_the_engine():
    eng, gold, _, _ = _random_pair(SMALL_CNN, 1)
    assert gold.layer_count == eng.layer_count == len(SMALL_CNN)
    for el, gl in zip(eng.layers, gold.layers):
        ep, gp = el.parameters, gl.parameters
        names = [a for a in dir(ep) if not a.startswith("_") and a != "layer_type"]
        assert sorted(names) == [a for a in dir(gp) if a != "layer_type"]
        assert {a: getattr(ep, a) for a in names} == {a: getattr(gp, a) for a in names}
        assert gp.layer_type.name == ep.layer_type.name
        assert int(gp.layer_type) == int(ep.layer_type)
        assert list(el.variables.names) == gl.variables.names
        for name in gl.variables.names:
            assert_same(el.variables[name], gl.variables[name], f"{gl.name}.{name}")
        assert [l.name for l in el.inbounds] == [l.name for l in gl.inbounds]
        assert all(isinstance(l, golden.Layer) for l in gl.inbounds)
    with pytest.raises(AttributeError, match="FullyConnected has no parameter 'filters'"):
        gold.layers[-1].parameters.filters  # noqa: B018


def test_variables_view_sets_through_the_layer_checks():
    _, gold, _, _ = _random_pair(SMALL_CNN, 2)
    fc = gold.layers[-1]
    fc.variables["threshold"] = np.arange(12, dtype=np.int32)
    assert fc.get_variable("threshold").tolist() == list(range(12))
    assert "weights" in fc.variables and "weights_pw" not in fc.variables
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        fc.variables["weights"] = np.full(fc.get_variable("weights").shape, 2, np.int8)


def test_pop_layer_forgets_the_inbound():
    gold = golden.Model([golden.InputData((1, 1, 4)), golden.FullyConnected(3, name="fc")])
    fc = gold.layers[1]
    gold.pop_layer()
    assert fc.inbounds == [] and gold.layer_count == 1


# -- macs ---------------------------------------------------------------------------------------
def test_macs_count_as_the_engine_counts_its_v2_layers():
    """The engine reports 0 MACs for every v1 layer; golden counts them, with the
    definition the engine uses for the equivalent v2 layers (checked on those)."""
    eng, gold = build_pair([
        ("InputConvolutional", dict(input_shape=(16, 12, 3), kernel_size=(3, 3), filters=8,
                                    kernel_stride=(2, 2), weights_bits=8, act_bits=4,
                                    pool_type=1, pool_size=(2, 2))),
        ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=10, weights_bits=4,
                                        act_bits=4)),
        ("FullyConnected", dict(units=7, weights_bits=4, activation=False))])
    assert eng.macs == 0 and [l.macs for l in eng.layers] == [0, 0, 0]
    v2 = akida.Model()
    v2.add(akida.InputData(input_shape=(16, 12, 3), input_bits=8))
    v2.add(akida.Conv2D(filters=8, kernel_size=3, kernel_stride=2,
                        pool_type=akida.PoolType.Max, pool_size=2))
    v2.add(akida.DepthwiseConv2D(kernel_size=3))
    v2.add(akida.Conv2D(filters=10, kernel_size=1))
    v2.add(akida.Dense1D(units=7))
    v2_macs = [l.macs for l in v2.layers[1:]]
    assert v2_macs[0] > 0
    assert [l.macs for l in gold.layers] == [v2_macs[0], v2_macs[1] + v2_macs[2], v2_macs[3]]
    assert gold.macs == v2.macs
    assert golden.Model([golden.InputData((1, 1, 4))]).macs == 0


# -- dictionaries and JSON ------------------------------------------------------------------------
def test_to_dict_and_to_json_are_the_engines():
    eng, gold, x, _ = _random_pair(SMALL_CNN, 3)
    # The engine's dict holds tuples for shapes; compare the JSON it produces.
    assert gold.to_json() == eng.to_json()
    assert json.loads(json.dumps(gold.to_dict())) == json.loads(json.dumps(eng.to_dict()))
    # Each library reads the other's dictionary and computes the same outputs.
    assert_same(eng.forward(x), golden.Model.from_dict(eng.to_dict()).forward(x))
    assert_same(eng.forward(x), akida.Model.from_dict(gold.to_dict()).forward(x))
    assert_same(eng.forward(x), golden.Model.from_json(eng.to_json()).forward(x))


def test_to_dict_with_learning_round_trips():
    eng, gold = build_pair([("InputData", dict(input_shape=(1, 1, 40), input_bits=1)),
                            ("FullyConnected", dict(units=12, weights_bits=1,
                                                    activation=False))])
    opt = dict(num_weights=7, num_classes=4, initial_plasticity=0.7, min_plasticity=0.2)
    eng.compile(akida.AkidaUnsupervised(**opt))
    gold.compile(golden.AkidaUnsupervised(**opt), seed=0)
    # Same random placement in both, then learn in both.
    rng = np.random.default_rng(4)
    w = gold.layers[-1].get_variable("weights")
    eng.layers[-1].set_variable("weights", w)
    gold.layers[-1].set_variable("weights", w)
    x = rng.integers(0, 2, (50, 1, 1, 40)).astype(np.uint8)
    labels = rng.integers(0, 4, 50).astype(np.int32)
    eng.fit(x, labels)
    gold.fit(x, labels)
    assert gold.to_json() == eng.to_json()
    back = golden.Model.from_dict(eng.to_dict())
    assert back.learning == gold.learning
    for name in ("weights", "threshold_learning", "thswap"):
        assert_same(eng.layers[-1].get_variable(name), back.layers[-1].get_variable(name))


def test_from_dict_refuses_what_it_cannot_build():
    _, gold, _, _ = _random_pair(SMALL_CNN, 5)
    d = gold.to_dict()
    with pytest.raises(ValueError, match="'IP version' must be 'v1', not 'v2'"):
        golden.Model.from_dict({**d, "IP version": "v2"})
    bad = json.loads(json.dumps(d))
    bad["layers"][1]["parameters"]["layer_type"] = "Conv2D"
    with pytest.raises(ValueError, match="layer type 'Conv2D' is not an Akida 1.0 layer"):
        golden.Model.from_dict(bad)
    bad = json.loads(json.dumps(d))
    bad["layers"][2]["parameters"]["kernel_width"] = 2
    with pytest.raises(ValueError, match=r"layer 'l2' \(SeparableConvolutional\): kernel_size "
                                         r"must be odd, not \(2, 3\)"):
        golden.Model.from_dict(bad)
    with pytest.raises(ValueError, match="needs a 'layers' list"):
        golden.Model.from_dict({"layer": []})


# -- evaluate -------------------------------------------------------------------------------------
FC_SPEC = [("InputData", dict(input_shape=(1, 1, 40), input_bits=4)),
           ("FullyConnected", dict(units=12, weights_bits=4, act_bits=4))]
SPATIAL_SPEC = [("InputData", dict(input_shape=(6, 5, 3), input_bits=4)),
                ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=6, weights_bits=4,
                                                act_bits=4, padding=0))]


@pytest.mark.parametrize("spec", [FC_SPEC, SPATIAL_SPEC], ids=["fc", "spatial"])
@pytest.mark.parametrize("activation", [False, True])
def test_evaluate_matches_the_engine(spec, activation):
    spec = [spec[0], (spec[1][0], {**spec[1][1], "activation": activation})]
    eng, gold, x, rng = _random_pair(spec, 6 + activation, n=300)
    N = gold.output_shape[-1]
    out = gold.predict(x) if not activation else gold.forward(x)
    X, Y = out.shape[1:3]
    neuron = np.argmax(out.reshape(len(x), -1), axis=-1) // (X * Y)
    for K in [0] + [k for k in range(2, N + 1) if N % k == 0]:
        for _ in range(3):
            labels = rng.integers(0, K or N, len(x)).astype(np.int32)
            # Half the labels from the expected reading, so that accuracies are far from 1/K
            # and a wrong reading shows.
            labels[::2] = neuron[::2] // (N // K) if K else neuron[::2]
            got = gold.evaluate(x, labels, num_classes=K)
            assert isinstance(got, float)
            assert got == eng.evaluate(x, labels, num_classes=K), f"num_classes={K}"
    assert gold.evaluate(x, labels, batch_size=7) == eng.evaluate(x, labels, batch_size=7)


def test_evaluate_refuses_what_the_engine_refuses():
    eng, gold, x, _ = _random_pair(FC_SPEC, 8, n=10)
    labels = np.zeros(10, np.int32)
    for k, msg in [(1, "cannot classify with num_classes=1"),
                   (5, "12 output neurons are not a multiple of num_classes=5"),
                   (24, r"num_classes must be an integer in \[0, 12\]")]:
        _raises_both(lambda: eng.evaluate(x, labels, num_classes=k),
                     lambda: gold.evaluate(x, labels, num_classes=k), msg)
    _raises_both(lambda: eng.evaluate(x, labels[:5]), lambda: gold.evaluate(x, labels[:5]),
                 "got 5 labels for 10 samples")
    _raises_both(lambda: eng.evaluate(x, labels[:, None]),
                 lambda: gold.evaluate(x, labels[:, None]), r"1-D .* not of shape \(10, 1\)")
    _raises_both(lambda: eng.evaluate(x, labels.astype(np.float32)),
                 lambda: gold.evaluate(x, labels.astype(np.float32)),
                 "labels must be a numpy array of integers, not float32")
    _raises_both(lambda: eng.evaluate(x[:0], labels[:0]), lambda: gold.evaluate(x[:0], labels[:0]),
                 r"inputs are empty: shape \(0, 1, 1, 40\) has no samples, give at least one")
    # Deliberate: golden takes any integer dtype for labels (the engine only int32).
    assert gold.evaluate(x, labels.astype(np.int64)) == eng.evaluate(x, labels)


# -- statistics ---------------------------------------------------------------------------------
def test_statistics_report_the_last_inference_like_the_engine():
    # A convolutional model and 2000 samples: the engine times in whole milliseconds.
    eng, gold, x, _ = _random_pair(SMALL_CNN, 9, n=200)
    for m in (eng, gold):
        s = m.statistics
        assert s.fps is None and s.powers == {} and s.energy is None
        assert s.inference_clk is None and s.program_clk is None
        assert str(s) == "Average framerate = N/A" and repr(s) == "fps: N/A"
    for m in (eng, gold):
        m.forward(np.concatenate([x] * 10))
        s = m.statistics
        assert isinstance(s.fps, float) and s.fps > 0
        assert str(s) == f"Average framerate = {s.fps:.2f} fps"


# -- predict_classes --------------------------------------------------------------------------------
def test_predict_classes_labels_every_position_of_a_spatial_output():
    eng, gold, x, _ = _random_pair([SPATIAL_SPEC[0], (SPATIAL_SPEC[1][0], {
        **SPATIAL_SPEC[1][1], "activation": False})], 10, n=40)
    X, Y, _ = gold.output_shape
    for K in (0, 2, 3, 6):
        got = gold.predict_classes(x, num_classes=K)
        assert got.shape == (40 * X * Y,)
        assert_same(eng.predict_classes(x, num_classes=K), got, f"num_classes={K}")


def test_predict_classes_floor_divides_when_classes_do_not_divide_the_neurons():
    eng, gold, x, _ = _random_pair([FC_SPEC[0], (FC_SPEC[1][0], {
        **FC_SPEC[1][1], "activation": False})], 11, n=300)
    for K in (5, 7, 11):   # 12 neurons: blocks of 2, 1 and 1
        assert_same(eng.predict_classes(x, num_classes=K), gold.predict_classes(x, num_classes=K))
    # Deliberate: more classes than neurons divides by zero in the engine (a warning and
    # class 0 everywhere); golden refuses it, and negative counts too.
    for K in (13, -1):
        with pytest.raises(ValueError, match=rf"num_classes must be an integer in \[0, 12\].*"
                                             rf"not {K}"):
            gold.predict_classes(x, num_classes=K)


# -- acceptance and refusal, measured in the engine ------------------------------------------------
@pytest.mark.parametrize("spec", [
    [("InputData", dict(input_shape=(2, 3, 50), input_bits=4)),
     ("FullyConnected", dict(units=16, weights_bits=8, activation=False))],
    [("InputData", dict(input_shape=(1, 1, 30), input_bits=2)),
     ("FullyConnected", dict(units=16, weights_bits=8, act_bits=4))],
    [("InputData", dict(input_shape=(9, 7, 12), input_bits=4)),
     ("SeparableConvolutional", dict(kernel_size=(5, 5), filters=8, weights_bits=8,
                                     activation=False))],
    [("InputData", dict(input_shape=(9, 7, 12), input_bits=1)),
     ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=8, weights_bits=8,
                                     act_bits=4, pool_type=2))],
    [("InputData", dict(input_shape=(5, 4, 9), input_bits=3)),
     ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=6, weights_bits=4, act_bits=2)),
     ("FullyConnected", dict(units=5, weights_bits=4, activation=False))],
    [("InputData", dict(input_shape=(1, 1, 64), input_bits=3)),
     ("FullyConnected", dict(units=5, weights_bits=2, act_bits=4))],
], ids=["fc-w8", "fc-w8-act", "sep-w8-k5", "sep-w8-gap", "in3-sep-fc", "in3-fc"])
def test_engine_accepted_widths_compute_exactly(spec):
    eng, gold, x, _ = _random_pair(spec, 12, n=64)
    w = gold.layers[1].get_variable("weights")
    if gold.layers[1].weights_bits == 8:
        assert w.min() < -64 and w.max() > 64, "the test must use the 8-bit range"
    assert_same(eng.forward(x), gold.forward(x))


@pytest.mark.parametrize("bits", [3, 5, 6, 7])
def test_input_conv_weights_bits_3_to_7_take_the_int8_range(bits):
    spec = [("InputConvolutional", dict(input_shape=(10, 8, 2), kernel_size=(3, 3), filters=5,
                                        weights_bits=bits, activation=False))]
    eng, gold, x, rng = _random_pair(spec, 13 + bits, n=32)
    w = rng.integers(-128, 128, (3, 3, 2, 5)).astype(np.int8)
    w[0, 0, 0, :2] = [-128, 127]
    for m in (eng, gold):
        m.layers[0].set_variable("weights", w)
    assert_same(eng.forward(x), gold.forward(x))


@pytest.mark.parametrize("spec, msg", [
    ([("InputData", dict(input_shape=(9, 9, 4), input_bits=1)),
      ("SeparableConvolutional", dict(kernel_size=(3, 2), filters=3))],
     r"kernel_size must be odd, not \(3, 2\)"),
    ([("InputData", dict(input_shape=(9, 9, 4), input_bits=1)),
      ("SeparableConvolutional", dict(kernel_size=(4, 4), filters=3))],
     r"kernel_size must be odd, not \(4, 4\)"),
    ([("InputData", dict(input_shape=(1, 1, 4), input_bits=1)),
      ("FullyConnected", dict(units=3, weights_bits=3))],
     r"weights_bits must be one of \(1, 2, 4, 8\), not 3"),
    ([("InputData", dict(input_shape=(5, 5, 4), input_bits=1)),
      ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=3, weights_bits=6))],
     r"weights_bits must be one of \(1, 2, 4, 8\), not 6"),
    ([("InputData", dict(input_shape=(1, 1, 4), input_bits=5)),
      ("FullyConnected", dict(units=3))], "needs 1 to 4-bit inputs, but the previous layer "
                                           "outputs 5"),
    ([("InputData", dict(input_shape=(5, 5, 4), input_bits=8)),
      ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=3))], "needs 1 to 4-bit"),
    ([("InputData", dict(input_shape=(1, 1, 4), input_bits=1)),
      ("FullyConnected", dict(units=3, act_bits=3))], r"act_bits must be one of \(1, 2, 4\)"),
], ids=["sep-k3x2", "sep-k4", "fc-w3", "sep-w6", "in5-fc", "in8-sep", "act3"])
def test_both_refuse(spec, msg):
    def build(lib, conv):
        m = lib.Model()
        for i, (cls, kw) in enumerate(spec):
            m.add(getattr(lib, cls)(**conv({"name": f"l{i}", **kw})))
    _raises_both(lambda: build(akida, _engine_kwargs), lambda: build(golden, dict), msg)


def test_a_model_of_only_input_data_cannot_process_inputs():
    eng, gold = build_pair([("InputData", dict(input_shape=(2, 2, 3), input_bits=8))])
    x = np.full((1, 2, 2, 3), 200, np.uint8)
    _raises_both(lambda: eng.forward(x), lambda: gold.forward(x),
                 "without any neural layer cannot process inputs")
