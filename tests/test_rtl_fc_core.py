"""The committed Verilog in ``rtl/`` must match the gateware.

If this fails, run ``python -m edgekws.gateware.generate`` and commit ``rtl/``.
"""
import pytest

from edgekws.gateware.generate import CONFIGS, RTL_DIR, generate_verilog


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_rtl_is_fresh(name):
    path = RTL_DIR / f"{name}.v"
    assert path.exists(), f"{path} missing: run python -m edgekws.gateware.generate"
    assert path.read_text() == generate_verilog(name), \
        f"{path} is stale: run python -m edgekws.gateware.generate"


def test_fusesoc_core_lists_the_verilog():
    text = (RTL_DIR / "fc_learning_core.core").read_text()
    for name in CONFIGS:
        assert f"{name}.v" in text
