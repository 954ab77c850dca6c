# edgekws — one place for every developer and CI entry point.
# `make install` then `make test` is all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST := $(BIN)/pytest
# Two cores: two pytest workers is the sweet spot.
JOBS   ?= 2

.PHONY: install test test-slow bench sim rtl clean train fpga sim-full soak fault fuzz

install: $(BIN)/activate
$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[dev]"
	touch $(BIN)/activate

test:
	$(PYTEST) -n $(JOBS) -q

test-slow:
	$(PYTEST) -n $(JOBS) -q -m slow

# The cocotb testbenches on Verilator (also part of `make test`).
sim:
	$(PYTEST) -n $(JOBS) -q tests/test_sim_fc_core.py tests/test_sim_conv_extractor.py

# The long extractor simulation through rtl/dscnn_kws.v, every activation and spike
# compared with the golden model: the shipped model on the whole validation split of
# SIM_CORPUS (3,520 frames for corpus-s500; features cached in build/features; results in
# build/sim-full.json), then 4 random models x 100 images.
SIM_CORPUS ?= build/corpus-s500
sim-full:
	@test -f $(SIM_CORPUS)/corpus.json || { echo "no corpus at $(SIM_CORPUS): build it with" \
	  "'$(BIN)/edgekws data synth --out $(SIM_CORPUS) --speakers 500' (or set SIM_CORPUS=...)"; exit 1; }
	EDGEKWS_CORPUS=$(SIM_CORPUS) EDGEKWS_FEATURES=build/features \
	  EDGEKWS_CONV_FULL_OUT=$(abspath build/sim-full.json) $(PYTEST) -p no:xdist -q -s -m slow \
	  tests/test_sim_conv_extractor.py::test_kws_shipped_model_validation_set \
	  tests/test_sim_conv_extractor.py::test_kws_extractor_many

# ECP5 bitstream with YoWASP: build/fpga/$(BOARD)/top.bit (logs, report.json and
# summary.json beside it); fails when timing is not met. BOARD: ulx3s-85f, ulx3s-25f.
# FPGA_ARGS e.g. "--freq 40 --lanes 16" or "--design fc" (defaults per board in
# fpga/board.py: 54 MHz on both, 32 lanes on the 85F, 16 on the 25F).
# Flash: openFPGALoader -b ulx3s build/fpga/$(BOARD)/top.bit
BOARD     ?= ulx3s-85f
FPGA_ARGS ?=
fpga:
	nice $(PY) fpga/build.py board --board $(BOARD) $(FPGA_ARGS)

# The simulated board (rtl/edgekws_board.v in Verilator, UART on loopback TCP) under
# many requests: SOAK_FRAMES mixed INFER_SPIKES/LEARN_SPIKES with a full INFER every 50th,
# every answer checked against the golden model; `fault` damages FAULT_RATE of the attempts
# (flipped bits, bad CRCs, dropped/inserted bytes, half frames, spoilt replies).
# SOAK_TARGET=emulator runs the same against the golden emulator. Tables in build/.
SOAK_TARGET ?= simulated
SOAK_FRAMES ?= 10000
FAULT_RATE  ?= 0.05
soak:
	@mkdir -p build
	$(PY) -m edgekws.host.soak --target $(SOAK_TARGET) --frames $(SOAK_FRAMES) --out build/soak-$(SOAK_TARGET).json
fault:
	@mkdir -p build
	$(PY) -m edgekws.host.soak --target $(SOAK_TARGET) --frames $(SOAK_FRAMES) --fault $(FAULT_RATE) --out build/fault-$(SOAK_TARGET).json

# Regenerate the committed Verilog in rtl/ from the Amaranth sources.
# Mutated model files (checksum recomputed or not), WAV headers and board frames, fixed
# seeds, FUZZ_INPUTS per target, memory growth capped at 512 MB; prints the outcome table
# and fails on any traceback, hang or data lost (tests/test_fuzz.py is the short version).
FUZZ_INPUTS ?= 4000
fuzz:
	$(PY) -m edgekws.fuzz --inputs $(FUZZ_INPUTS)

rtl:
	$(PY) -m edgekws.gateware.generate
	$(PY) -m edgekws.gateware.conv.generate
	$(PY) -m edgekws.gateware.top

bench:
	$(PY) -m edgekws.bench --out docs/benchmarks.md

# The shipped model (python/edgekws/models/ds_cnn_kws.ekws): the synthetic corpus
# (35 words + the 46 words of the extra vocabulary x 1500 speakers x 2 copies, 243k clips,
# built once; the extra words train a more general extractor), then the shipped recipe in
# two steps: float training and quantization-aware training of the DS-CNN with the
# binary-prototype head ($(TRAIN_DIR)/base), then TUNE_EPOCHS more QAT epochs with the
# prototype head's weight TUNE_WEIGHT, keeping the epoch whose spikes learn best natively
# (--select val_native); conversion to the golden model and reports in $(TRAIN_DIR).
# Pass options to the first step through TRAIN_ARGS, e.g. TRAIN_ARGS="--float-epochs 16".
# PROTOTYPE_WEIGHT: weight of the binary-prototype head in QAT, which trains the spikes for
# the tutorial's native learning (docs/tutorial/native-gap.md); 0 turns it off.
CORPUS     ?= build/corpus
TRAIN_DIR  ?= build/train
KWS_MODEL  ?= python/edgekws/models/ds_cnn_kws.ekws
TRAIN_ARGS ?=
PROTOTYPE_WEIGHT ?= 1
TUNE_EPOCHS ?= 4
TUNE_WEIGHT ?= 2

$(CORPUS)/corpus.json:
	$(BIN)/edgekws data synth --out $(CORPUS) --extra-words

train: $(CORPUS)/corpus.json
	$(BIN)/edgekws train --root $(CORPUS) --out-dir $(TRAIN_DIR)/base \
	    --cache $(TRAIN_DIR)/features --prototype-weight $(PROTOTYPE_WEIGHT) $(TRAIN_ARGS)
	$(BIN)/edgekws train --root $(CORPUS) --out-dir $(TRAIN_DIR) --model $(KWS_MODEL) \
	    --cache $(TRAIN_DIR)/features --init-qat $(TRAIN_DIR)/base/keras \
	    --qat-epochs $(TUNE_EPOCHS) --qat-lr 2e-4 --prototype-weight $(TUNE_WEIGHT) \
	    --select val_native
	cp $(TRAIN_DIR)/report.md $(KWS_MODEL:.ekws=.md)
	cp $(TRAIN_DIR)/confusion.png $(KWS_MODEL:.ekws=.png)

clean:
	rm -rf build sim_build .pytest_cache
