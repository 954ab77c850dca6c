"""DS-CNN feature extractor gateware: see :mod:`.extractor`."""
from .extractor import DSCNNExtractor, Sel
from .spec import ExtractorSpec, LayerGeom, kws_spec
from .step import StepActivation

__all__ = ["DSCNNExtractor", "Sel", "ExtractorSpec", "LayerGeom", "kws_spec",
           "StepActivation"]
