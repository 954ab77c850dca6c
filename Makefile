# edgekws — one place for every developer and CI entry point.
# `make install` then `make test` is all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST := $(BIN)/pytest
# Two cores: two pytest workers is the sweet spot.
JOBS   ?= 2

.PHONY: install test test-slow bench sim rtl clean train

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

# Regenerate the committed Verilog in rtl/ from the Amaranth sources.
rtl:
	$(PY) -m edgekws.gateware.generate
	$(PY) -m edgekws.gateware.conv.generate

bench:
	$(PY) -m edgekws.bench --out docs/benchmarks.md

# The shipped model (python/edgekws/models/ds_cnn_kws.ekws): the synthetic corpus
# (35 words x 1500 speakers x 2 copies, 105k clips, built once), then float training and
# quantization-aware training of the DS-CNN, conversion to the golden model and reports in
# $(TRAIN_DIR). Pass options through TRAIN_ARGS, e.g. TRAIN_ARGS="--float-epochs 30".
CORPUS     ?= build/corpus
TRAIN_DIR  ?= build/train
KWS_MODEL  ?= python/edgekws/models/ds_cnn_kws.ekws
TRAIN_ARGS ?=

$(CORPUS)/corpus.json:
	$(BIN)/edgekws data synth --out $(CORPUS)

train: $(CORPUS)/corpus.json
	$(BIN)/edgekws train --root $(CORPUS) --out-dir $(TRAIN_DIR) --model $(KWS_MODEL) $(TRAIN_ARGS)
	cp $(TRAIN_DIR)/report.md $(KWS_MODEL:.ekws=.md)
	cp $(TRAIN_DIR)/confusion.png $(KWS_MODEL:.ekws=.png)

clean:
	rm -rf build sim_build .pytest_cache
