# edgekws — one place for every developer and CI entry point.
# `make install` then `make test` is all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST := $(BIN)/pytest
# Two cores: two pytest workers is the sweet spot.
JOBS   ?= 2

.PHONY: install test test-slow bench sim rtl clean

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

bench:
	$(PY) -m edgekws.bench --out docs/benchmarks.md

clean:
	rm -rf build sim_build .pytest_cache
