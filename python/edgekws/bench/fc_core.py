"""The FC learning core in simulation: cycles per inference and per learning step against
the parallelism bound ``ceil(N * F / (lanes * width))``, and Verilator's speed."""
from __future__ import annotations

from edgekws.bench import Row

TITLE = "FullyConnected learning core (RTL, Verilator via cocotb)"


def run(quick: bool = False):
    from .fc_core_cycles import measure_fc_core
    r = measure_fc_core(samples=50 if quick else 200)
    cmd = "python -m edgekws.bench.fc_core_cycles"
    bound = r["bound_cycles"]
    return [
        Row(f"cycles per inference ({r.get('num_neurons', 1024)} neurons x "
            f"{r.get('num_inputs', 64)} inputs)", f"{r['infer_cycles_mean']:.0f}",
            f"bound {bound}", f"{r['infer_cycles_mean'] / bound:.2f}", cmd,
            "includes the input beats; goal ratio <= 1.2"),
        Row("cycles per learning step (mean)", f"{r['learn_cycles_mean']:.0f}",
            f"bound {bound}", f"{r['learn_cycles_mean'] / bound:.2f}", cmd,
            f"{r['learn_events']} of the samples swapped weights"),
        Row("Verilator speed, whole transactions (cycles/s)",
            f"{r['infer_sim_cycles_per_s']:.0f}", command=cmd,
            note=f"clock-only {r['idle_sim_cycles_per_s']:.0f} cycles/s"),
    ]
