"""Models shipped inside the package (trained by ``make train`` on the project's corpus)."""
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
