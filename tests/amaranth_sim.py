"""One way to run an amaranth.sim testbench, shared by the gateware tests."""
from __future__ import annotations

import contextlib
import gc
import warnings

from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator


def run_sim(dut, *benches, background=(), period: float = 1e-6) -> None:
    """Simulate ``dut`` with a clock of ``period`` seconds until every bench returns;
    ``background`` benches (drivers, monitors) run alongside and do not keep it going."""
    sim = Simulator(dut)
    sim.add_clock(period)
    for bench in benches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)
    sim.run()


@contextlib.contextmanager
def refused_quietly():
    """A component whose constructor raised is never elaborated: no warning for that."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        yield
        gc.collect()
