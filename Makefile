# A fresh clone needs only python3 (3.11+), pip and make: every target builds what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := $(VENV)/share/vodstack/big_buck_bunny.mp4

.PHONY: demo serve test lint typecheck clean

demo: $(STAMP) $(SAMPLE)
	$(BIN)/vodstack demo

$(SAMPLE): | $(STAMP)
	$(BIN)/python scripts/fetch_sample.py $@

serve: $(STAMP)
	$(BIN)/vodstack serve

test: $(STAMP) $(SAMPLE) lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
