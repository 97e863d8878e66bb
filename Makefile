# Spark Control — developer entry points. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= /data/config.yaml

.PHONY: install run demo test test-python lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(BIN)/python -m app --config $(CONFIG)

demo: install
	$(BIN)/python -m scripts.demo

test: test-python

test-python: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check app scripts tests
	$(BIN)/ruff format --check app scripts tests

bench: install
	$(BIN)/python -m scripts.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
