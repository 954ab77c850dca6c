"""Verilator builds of the generated Verilog: :mod:`.runner` (the toolchain's
workarounds, a build cache and lock, cocotb runs and plain C++ harnesses) and
``board_bridge.cpp``, the harness of the simulated board
(:mod:`edgekws.host.simboard`)."""
