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
