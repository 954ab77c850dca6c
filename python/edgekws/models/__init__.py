"""Models shipped inside the package (trained by ``make train`` on the project's corpus).

``ds_cnn_kws.ekws``
    The DS-CNN keyword spotter as a golden integer model (InputConvolutional, four
    SeparableConvolutional, FullyConnected dense_5). Its metadata (``Model(path).extra``)
    holds the word list (``words``, in label order), the MFCC parameters (``mfcc``), the
    uint8 input scaling (``mfcc_scaling``) and the training accuracies; ``ds_cnn_kws.md``
    is its training report and ``ds_cnn_kws.png`` its confusion matrix.

::

    from edgekws.models import load_pretrained
    model = load_pretrained()                 # edgekws.golden.Model
    words = model.extra["words"]
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The DS-CNN KWS model, converted to the golden integer model.
SHIPPED = HERE / "ds_cnn_kws.ekws"


def shipped_model_path() -> str:
    """Path of the shipped model; a clear error if this build has none."""
    if not SHIPPED.exists():
        raise FileNotFoundError(f"no shipped model at {SHIPPED}: run `make train` (or pass "
                                "--model)")
    return str(SHIPPED)


def load_pretrained():
    """The shipped model as an :class:`edgekws.golden.Model` (metadata in ``.extra``)."""
    from edgekws.golden import Model

    return Model(shipped_model_path())
