"""The FuseSoC core of the learning core names its committed Verilog (whose freshness
``tests/test_rtl_cli.py`` checks with every other generated file)."""
from edgekws.gateware.generate import CONFIGS, RTL_DIR


def test_fusesoc_core_lists_the_verilog():
    text = (RTL_DIR / "fc_learning_core.core").read_text()
    for name in CONFIGS:
        assert f"{name}.v" in text
