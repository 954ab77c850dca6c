"""Cycle counts and simulator speed of the FullyConnected learning core.

For the benchmark suite (:mod:`edgekws.bench.fc_core`)::

    from edgekws.bench.fc_core_cycles import measure_fc_core
    measure_fc_core()   # -> dict, see below

or ``python -m edgekws.bench.fc_core_cycles [--classes 64 --per-class 16 --samples 200]``.
It runs the ``bench`` test of the cocotb testbench ``sim/test_fc_core.py``, so it needs a
source checkout.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from edgekws.locations import rtl_dir, testbench_dir
from edgekws.verilator.runner import build, run_tests

__all__ = ["measure_fc_core"]


def measure_fc_core(config: str = "fc_learning_core", num_classes: int = 64,
                    per_class: int = 16, samples: int = 200, seed: int = 1) -> dict:
    """Simulate ``samples`` INFER then ``samples`` LEARN commands (Verilator).

    No idle cycles and no back-pressure; a sample's cycles run from driving its
    first command beat to accepting its result, so they include the input beats.

    Returns
    -------
    dict
        ``infer_cycles_mean``/``_max``, ``learn_cycles_mean``/``_max``,
        ``learn_swap_cycles_mean`` (samples that swapped weights),
        ``learn_events``, ``bound_cycles`` = ceil(N*F/(lanes*width)),
        ``infer_sim_cycles_per_s``/``learn_sim_cycles_per_s`` (Verilator + cocotb,
        whole transactions), ``idle_sim_cycles_per_s`` (the model with the clock
        running and Python only waiting), ``build_s`` (Verilator build, cached builds report the
        original time) and the configuration.
    """
    tb_dir = testbench_dir()
    build_dir = build(config, [rtl_dir() / f"{config}.v"])
    scenario = dict(seed=seed, num_classes=num_classes, per_class=per_class,
                    samples=samples, unlabeled=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        t0 = time.monotonic()
        run_tests(build_dir, config, "test_fc_core", testcase="bench", test_dirs=[tb_dir],
                  extra_env={"EDGEKWS_FC_CONFIG": config,
                             "EDGEKWS_FC_SCENARIO": json.dumps(scenario),
                             "EDGEKWS_FC_BENCH_OUT": str(out)})
        res = json.loads(out.read_text())
    res["wall_s"] = round(time.monotonic() - t0, 2)
    res["build_s"] = float((build_dir / "build_time.txt").read_text())
    res["infer_ratio"] = res["infer_cycles_mean"] / res["bound_cycles"]
    res["learn_ratio"] = res["learn_cycles_mean"] / res["bound_cycles"]
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="fc_learning_core")
    ap.add_argument("--classes", type=int, default=64)
    ap.add_argument("--per-class", type=int, default=16)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args(argv)
    print(json.dumps(measure_fc_core(args.config, args.classes, args.per_class,
                                     args.samples), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
