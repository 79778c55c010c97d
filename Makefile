# `make demo` and `make test` set up .venv on first use: torch==2.13.0 first (a CPU build;
# a bare `torch` requirement would pull a several-GB CUDA build), then aegan with its dev extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench speed clean

$(BIN)/aegan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/aegan

demo: $(BIN)/aegan
	$(BIN)/aegan demo

test: $(BIN)/aegan
	$(BIN)/python -m pytest -q

speed: $(BIN)/aegan
	$(BIN)/python benchmarks/speed.py --json

clean:
	rm -rf $(VENV) demo runs
