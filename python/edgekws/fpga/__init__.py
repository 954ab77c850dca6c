"""ECP5 builds: the yosys/nextpnr flow (:mod:`.flow`), the few-pin measurement harnesses
(:mod:`.harness`), the ULX3S board wrapper and bitstream (:mod:`.board`), and the
``edgekws fpga build`` command (:mod:`.cli`)."""
