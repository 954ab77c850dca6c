"""Verilog the tests simulate but the repository does not commit (the small extractor
configurations, the poisoned builds): generated from the gateware into ``build/`` when a
test needs it, and rewritten only when its text changes, so that the Verilator build,
cached by content, is reused."""
from pathlib import Path

from edgekws.atomicio import atomic_write

REPO = Path(__file__).resolve().parent.parent


def generated_source(name: str, generate, folder: str, **kwargs) -> Path:
    """``build/<folder>/<name>.v`` holding ``generate(name, **kwargs)``."""
    text = generate(name, **kwargs)
    path = REPO / "build" / folder / f"{name}.v"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode())   # pytest-xdist workers may write it at once
    return path
