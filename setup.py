"""The one build step pyproject.toml cannot declare: a copy of the committed Verilog
(``rtl/*.v``, beside ``python/``) goes into the wheel as ``edgekws/rtl/``, so that an
installed package can simulate the board and check its Verilog without a source tree
(:func:`edgekws.locations.rtl_dir`). Everything else is in pyproject.toml."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RTL = Path(__file__).resolve().parent / "rtl"


class BuildPyWithRtl(build_py):
    """``build_py``, then ``rtl/*.v`` copied into the built package."""

    def run(self):
        super().run()
        sources = sorted(RTL.glob("*.v"))
        if not sources:
            raise FileNotFoundError(f"no Verilog in {RTL}: the wheel needs rtl/*.v")
        target = Path(self.build_lib) / "edgekws" / "rtl"
        self.mkpath(str(target))
        for src in sources:
            self.copy_file(str(src), str(target / src.name))


setup(cmdclass={"build_py": BuildPyWithRtl})
