"""Simulation of the gateware: Verilator/cocotb helper (:mod:`sim.runner`), benches."""
