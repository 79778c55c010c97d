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

# Lint (ruff), the layers contract (import-linter), then the tests on every core (pytest-xdist).
test: $(BIN)/aegan
	$(BIN)/ruff check aegan tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n auto

speed: $(BIN)/aegan
	$(BIN)/python benchmarks/speed.py --json

clean:
	rm -rf $(VENV) demo runs
