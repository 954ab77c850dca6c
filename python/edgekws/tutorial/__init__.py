"""The tutorials this product reproduces, as runnable flows (``edgekws tutorial``)."""
from .edge_learning import NEW_WORDS, TutorialConfig, TutorialResult, run

__all__ = ["NEW_WORDS", "TutorialConfig", "TutorialResult", "run"]
