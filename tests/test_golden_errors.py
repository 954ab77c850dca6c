"""Every public entry of the golden model refuses bad input with a message naming it."""
from __future__ import annotations

import numpy as np
import pytest

import edgekws.golden as g


def fc_model(bits=1, C=8, units=4, **kw):
    m = g.Model()
    m.add(g.InputData((1, 1, C), input_bits=bits))
    m.add(g.FullyConnected(units, **kw))
    return m


@pytest.mark.parametrize("x, exc, msg", [
    (np.zeros((2, 1, 1, 8), np.int16), TypeError, "inputs must be uint8, not int16"),
    (np.zeros((2, 1, 1, 8), np.float32), TypeError, "inputs must be uint8, not float32"),
    (np.zeros((1, 1, 8), np.uint8), ValueError, r"must have shape \(n, 1, 1, 8\), not \(1, 1, 8\)"),
    (np.zeros((2, 1, 1, 9), np.uint8), ValueError, r"not \(2, 1, 1, 9\)"),
    (np.full((2, 1, 1, 8), 2, np.uint8), ValueError, r"must be in \[0, 1\] for input_bits=1, found 2"),
    ([[1, 2]], TypeError, "numpy uint8 array, not list"),
])
def test_forward_refuses_bad_inputs(x, exc, msg):
    with pytest.raises(exc, match=msg):
        fc_model(activation=False).forward(x)


@pytest.mark.parametrize("make, msg", [
    (lambda: g.FullyConnected(0), "units must be a positive integer, not 0"),
    (lambda: g.FullyConnected(4, weights_bits=3), r"weights_bits must be one of \(1, 2, 4, 8\), not 3"),
    (lambda: g.InputConvolutional((9, 9, 1), (3, 3), 8, weights_bits=9),
     r"weights_bits must be one of \(1, 2, 3, 4, 5, 6, 7, 8\), not 9"),
    (lambda: g.FullyConnected(4, act_bits=8), r"act_bits must be one of \(1, 2, 4\), not 8"),
    (lambda: g.InputData((1, 1, 8), input_bits=9), r"input_bits must be one of \(1, .*, 8\), not 9"),
    (lambda: g.InputData((1, 8)), "input_shape must be three positive integers"),
    (lambda: g.InputConvolutional((9, 9, 1), (4, 3), 8), r"kernel_size must be odd, not \(4, 3\)"),
    (lambda: g.InputConvolutional((9, 9, 1), (3, 3), 8, padding_value=300), "padding_value must be"),
    (lambda: g.InputConvolutional((9, 9, 1), (3, 3), 8, padding="full"), "padding must be one of"),
    (lambda: g.SeparableConvolutional((3, 3), 8, pool_type=g.PoolType.Average, pool_size=(2, 2)),
     "only global average pooling"),
    (lambda: g.SeparableConvolutional((3, 3), 8, pool_type=g.PoolType.Max), "max pooling needs a pool_size"),
    (lambda: g.SeparableConvolutional((3, 3), 8, pool_type=1, pool_size=(2, 2), pool_stride=(3, 3)),
     "pool_stride .* cannot be larger than pool_size"),
    (lambda: g.SeparableConvolutional((1, 1), 8, kernel_stride=(2, 2)), "kernel_stride .* cannot be larger"),
    (lambda: g.SeparableConvolutional((3, 3), 8, activation=1), "activation must be True or False"),
])
def test_layer_arguments_are_checked(make, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        make()


def test_chains_that_do_not_fit_are_refused():
    m = g.Model()
    with pytest.raises(ValueError, match="first layer must be InputData or InputConvolutional"):
        m.add(g.FullyConnected(4))
    m.add(g.InputData((1, 1, 8), input_bits=1))
    with pytest.raises(ValueError, match="can only be the first layer"):
        m.add(g.InputData((1, 1, 8)))
    m.add(g.FullyConnected(4, activation=False))
    with pytest.raises(ValueError, match="its output is raw potentials"):
        m.add(g.FullyConnected(4))
    c = g.Model()
    c.add(g.InputConvolutional((9, 9, 1), (3, 3), 4, weights_bits=8, activation=False))
    with pytest.raises(ValueError, match="raw potentials"):
        c.add(g.SeparableConvolutional((3, 3), 4))
    v = g.Model()
    with pytest.raises(ValueError, match="does not fit the input"):
        v.add(g.InputConvolutional((3, 3, 1), (5, 5), 4, padding=g.Padding.Valid))
    d = g.Model()
    d.add(g.InputData((1, 1, 8)))
    d.add(g.FullyConnected(2, name="a"))
    with pytest.raises(ValueError, match="a layer named 'a' is already in the model"):
        d.add(g.FullyConnected(2, name="a"))


def test_variables_are_checked():
    layer = fc_model(weights_bits=4).layers[-1]
    with pytest.raises(ValueError, match=r"must be in \[-7, 7\], found values in \[-8, -8\]"):
        layer.set_variable("weights", np.full((1, 1, 8, 4), -8))
    with pytest.raises(ValueError, match=r"must have shape \(1, 1, 8, 4\), not \(8, 4\)"):
        layer.set_variable("weights", np.zeros((8, 4), np.int8))
    with pytest.raises(TypeError, match="must hold integers, not float32"):
        layer.set_variable("threshold", np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="act_step must be at least 1/16"):
        layer.set_variable("act_step", np.full(4, 0.05, np.float32))
    with pytest.raises(ValueError, match="has no variable 'foo'"):
        layer.get_variable("foo")
    binary = fc_model().layers[-1]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binary.set_variable("weights", np.full((1, 1, 8, 4), -1))


def test_predict_needs_a_last_layer_without_activation():
    m = fc_model(activation=True)
    with pytest.raises(ValueError, match="activation=False"):
        m.predict(np.zeros((1, 1, 1, 8), np.uint8))


def test_learning_preconditions():
    with pytest.raises(ValueError, match="binary weights and binary inputs"):
        fc_model(bits=4).compile(g.AkidaUnsupervised(num_weights=2))
    with pytest.raises(ValueError, match="binary weights and binary inputs"):
        fc_model(weights_bits=2).compile(g.AkidaUnsupervised(num_weights=2))
    with pytest.raises(ValueError, match="not compiled for learning"):
        fc_model().fit(np.zeros((1, 1, 1, 8), np.uint8))
    with pytest.raises(ValueError, match="cannot be split evenly into 3 classes"):
        fc_model(units=4).compile(g.AkidaUnsupervised(num_weights=2, num_classes=3))
    with pytest.raises(ValueError, match=r"num_weights \(9\) cannot exceed the layer's 8 inputs"):
        fc_model().compile(g.AkidaUnsupervised(num_weights=9))
    with pytest.raises(ValueError, match="num_weights must be a positive integer, not 0"):
        g.AkidaUnsupervised(num_weights=0)
    with pytest.raises(ValueError, match="learning_competition must be between 0 and 1, not 1.5"):
        g.AkidaUnsupervised(num_weights=2, learning_competition=1.5)
    m = fc_model(units=4)
    m.compile(g.AkidaUnsupervised(num_weights=2, num_classes=2))
    with pytest.raises(ValueError, match="got 3 labels for 2 samples"):
        m.fit(np.zeros((2, 1, 1, 8), np.uint8), np.array([0, 1, 1]))
    with pytest.raises(TypeError, match="labels must be integers"):
        m.fit(np.zeros((2, 1, 1, 8), np.uint8), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="positive integer, not 0"):
        m.add_classes(0)
    with pytest.raises(ValueError, match="cannot add a layer after a compiled learning layer"):
        m.add(g.FullyConnected(2))


# ---------------------------------------------- edge cases: labels, extreme steps, empty batches


def _learning_model(K=2, m=2):
    model = fc_model(units=K * m, activation=False)
    model.compile(g.AkidaUnsupervised(num_weights=2, num_classes=K), seed=0)
    return model


@pytest.mark.parametrize("labels", [-2, -10 ** 6, np.array([0, -2], np.int32)])
@pytest.mark.parametrize("K", [1, 2])
def test_fit_refuses_labels_below_minus_one(labels, K):
    model = _learning_model(K=K)
    before = model.layers[-1].get_variable("weights")
    with pytest.raises(ValueError, match=r"label -[0-9]+ is out of range: labels are 0\.\.[01], "
                                         "or -1 for any neuron"):
        model.fit(np.ones((2, 1, 1, 8), np.uint8), labels)
    np.testing.assert_array_equal(model.layers[-1].get_variable("weights"), before)


@pytest.mark.parametrize("value", [1e30, 2.0 ** 54 * 1.01, np.inf])
def test_act_step_too_large_for_int64_is_refused(value):
    layer = fc_model(units=4, act_bits=4).layers[-1]
    match = "at least 1/16" if value == np.inf else r"act_step must be at most 2\*\*54"
    with pytest.raises(ValueError, match=match):
        layer.set_variable("act_step", np.full(4, value, np.float32))


def test_largest_act_step_computes_without_overflow():
    import warnings
    for bits in (1, 2, 4):
        model = fc_model(bits=4, units=3, act_bits=bits)
        layer = model.layers[-1]
        layer.set_variable("weights", np.full((1, 1, 8, 3), 1, np.int8))
        layer.set_variable("act_step", np.full(3, 2.0 ** 54, np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = model.forward(np.full((2, 1, 1, 8), 15, np.uint8))
        assert out.tolist() == [[[[1, 1, 1]]]] * 2  # potential 120 > threshold 0: one step


def test_negative_thswap_is_refused():
    layer = _learning_model().layers[-1]
    with pytest.raises(ValueError, match="thswap of layer .* must be >= 0, found -1"):
        layer.set_variable("thswap", np.array([3, -1, 3, 3], np.int32))


def test_empty_batches_are_refused_clearly():
    empty = np.zeros((0, 1, 1, 8), np.uint8)
    with pytest.raises(ValueError, match=r"inputs are empty: shape \(0, 1, 1, 8\) has no samples"):
        fc_model(activation=False).forward(empty)
    with pytest.raises(ValueError, match="inputs are empty"):
        fc_model(activation=False).predict(empty)
    with pytest.raises(ValueError, match="inputs are empty"):
        _learning_model().fit(empty, np.zeros(0, np.int32))


def test_add_classes_is_bounded_before_allocating():
    from edgekws.golden.learning import MAX_LEARNING_NEURONS
    model = _learning_model()
    with pytest.raises(ValueError, match="cannot add 1000000 classes of 2 neurons to a layer of "
                                         f"4: a learning layer has at most {MAX_LEARNING_NEURONS}"):
        model.add_classes(10 ** 6)
    assert model.layers[-1].units == 4
    model.add_classes((MAX_LEARNING_NEURONS - 4) // 2)  # exactly up to the bound is fine
    assert model.layers[-1].units == MAX_LEARNING_NEURONS


@pytest.mark.parametrize("index", [100, 2, -3])
def test_get_layer_out_of_range(index):
    with pytest.raises(ValueError, match=rf"No layer at index {index}: the model has 2 layers"):
        fc_model().get_layer(index)
    assert fc_model().get_layer(-1).name == fc_model().get_layer(1).name
