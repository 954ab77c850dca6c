"""The ``NO_RW_CHECK`` claim, checked in simulation.

``NO_RW_CHECK`` lets yosys assume that no read of a memory meets a write to the same
address in the same cycle, so it drops the emulation of the old data that such a read
returns (docs/design/timing-closure.md §3.6, steps 15 and 16). Each memory marked so is
argued to never *use* the data of a colliding read. Here the argument is checked: the
gateware is built with ``poison_collisions=True``, which inverts the data of every read
that met a write (:class:`edgekws.gateware.ram.PoisonedRead`), and the same cocotb benches
as the committed Verilog's compare it with the golden model. A used colliding read would
change a result.
"""
import json
from pathlib import Path

import pytest
from amaranth.hdl import Fragment, Module
from amaranth.lib import memory

from amaranth_sim import run_sim
from edgekws.gateware.ram import PoisonedRead, checked_reads

from edgekws.verilator.runner import build_and_test
from generated_rtl import generated_source

REPO = Path(__file__).resolve().parent.parent


def poisoned_source(name: str, generate) -> Path:
    """The poisoned Verilog of configuration ``name`` in ``build/poisoned/``."""
    path = generated_source(name, generate, "poisoned", poison=True)
    assert "poison_collisions=True" in path.read_text().splitlines()[1]
    return path


# -- the check itself --------------------------------------------------------------------
class _Toy:
    """A 4-word memory with one write and one (poisoned) read port."""

    def __init__(self):
        self.m = m = Module()
        m.submodules.mem = mem = memory.Memory(shape=8, depth=4, init=[1, 2, 3, 4])
        self.wr = mem.write_port()
        self.rd = PoisonedRead(m, mem.read_port(transparent_for=()), self.wr)


def test_poisoned_read_inverts_only_a_colliding_read():
    toy = _Toy()
    seen = []

    async def bench(ctx):
        for raddr, waddr, wen in [(1, 1, 1), (2, 1, 1), (3, 3, 0), (0, 0, 1)]:
            ctx.set(toy.rd.addr, raddr)
            ctx.set(toy.wr.addr, waddr)
            ctx.set(toy.wr.data, 0x50 + waddr)
            ctx.set(toy.wr.en, wen)
            await ctx.tick()
            seen.append(ctx.get(toy.rd.data))

    run_sim(toy.m, bench)
    # A collision gives ~old; a read elsewhere, or of an address not written, the word.
    assert seen == [0xFF ^ 2, 3, 4, 0xFF ^ 1]


def test_checked_reads_without_poison_are_the_ports():
    m = Module()
    m.submodules.mem = mem = memory.Memory(shape=8, depth=4, init=[])
    rd, wr = mem.read_port(), mem.write_port()
    assert checked_reads(m, [(rd, wr)], False) == [rd]
    (p,) = checked_reads(m, [(rd, wr)], True)
    assert isinstance(p, PoisonedRead) and p.addr is rd.addr and p.data is not rd.data
    Fragment.get(m, None)          # elaborated, so amaranth does not warn it was unused


# -- the learning core -------------------------------------------------------------------
@pytest.mark.parametrize("config, testcase, scenario", [
    ("fc_learning_core", "readback", {}),
    ("fc_learning_core", "learning",
     dict(seed=2, num_classes=2, per_class=16, add_at=600, add_classes=2, samples=1500)),
    ("fc_learning_core_f1024_l2", "learning",
     dict(seed=5, num_classes=3, per_class=6, add_at=100, add_classes=1, samples=250)),
])
def test_fc_core_poisoned(config, testcase, scenario):
    from edgekws.gateware.generate import generate_verilog
    build_and_test(toplevel=config,
                   verilog_sources=[poisoned_source(config, generate_verilog)],
                   test_module="test_fc_core", test_dirs=[REPO / "sim"],
                   testcase=testcase,
                   extra_env={"EDGEKWS_FC_CONFIG": config,
                              "EDGEKWS_FC_SCENARIO": json.dumps(scenario)})


# -- the feature extractor ---------------------------------------------------------------
@pytest.mark.parametrize("config, scenario", [
    ("dscnn_unit_a", dict(seed=11, samples=6, models=3)),
    ("dscnn_unit_b", dict(seed=12, samples=6, models=3)),
    ("dscnn_kws", dict(seed=13, samples=8, models=2)),
])
def test_extractor_poisoned(tmp_path, config, scenario):
    from edgekws.gateware.conv.generate import generate_verilog
    out = tmp_path / "r.json"
    env = {"EDGEKWS_CONV_CONFIG": config, "EDGEKWS_CONV_OUT": str(out),
           "EDGEKWS_CONV_SCENARIO": json.dumps(dict(scenario, idle=0.05,
                                                    backpressure=0.1))}
    build_and_test(toplevel=config,
                   verilog_sources=[poisoned_source(config, generate_verilog)],
                   test_module="test_conv_extractor", test_dirs=[REPO / "sim"],
                   testcase="extractor", extra_env=env)
    r = json.loads(out.read_text())
    assert r["samples"] == scenario["samples"] * scenario["models"]
