"""The shipped model python/edgekws/models/ds_cnn_kws.ekws (skipped when not built)."""
import pytest

from edgekws.data.mfcc import MfccScaling
from edgekws.golden import FullyConnected, InputConvolutional, SeparableConvolutional
from edgekws.models import SHIPPED, load_pretrained

pytestmark = pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped model: make train")


def test_architecture_is_the_products():
    m = load_pretrained()
    kinds = [type(l) for l in m.layers]
    assert kinds == [InputConvolutional] + [SeparableConvolutional] * 4 + [FullyConnected]
    assert m.input_shape == [49, 10, 1]
    conv0, sep4, dense = m.layers[0], m.layers[4], m.layers[5]
    assert conv0.weights_bits == 8 and conv0.act_bits == 4 and conv0.filters == 64
    assert all(l.weights_bits == 4 and l.act_bits == 4 for l in m.layers[1:4])
    assert sep4.act_bits == 1 and sep4.output_dims == (1, 1, 64)
    assert dense.units == len(m.extra["words"]) and not dense.activation


def test_metadata():
    extra = load_pretrained().extra
    assert extra["format"] == "edgekws-kws-model"
    assert extra["words"][0] == "_silence_" and len(set(extra["words"])) == len(extra["words"])
    assert extra["word_to_index"] == {w: i for i, w in enumerate(extra["words"])}
    MfccScaling.from_dict(extra["mfcc_scaling"])
    acc = extra["training"]["accuracy"]
    assert acc["golden"]["val"] > 0.5
    assert extra["training"]["conversion_summary"]["class_agreement"] >= 0.995


def test_spikes_are_lively():
    from edgekws.golden.zoo import mfcc_like_inputs

    m = load_pretrained()
    x = mfcc_like_inputs(64, seed=0)
    h = x
    for layer in m.layers[:5]:
        h = layer.call(h)
    rate = h.reshape(64, -1).mean()
    assert 0.02 < rate < 0.98
    assert m.predict_classes(x, num_classes=len(m.extra["words"])).shape == (64,)
