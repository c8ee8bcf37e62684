# llama-rollout: `make demo` runs the pipeline on the embedded stack, `make test` runs every test.
# Each target sets up what it needs first; re-running a target reuses what is already there.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIPELINE := pipelines/llama-rollout.yaml
PYTEST_ARGS ?=

.PHONY: setup demo test lint format compile check-compiled clean local-down benchmark

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "llama-rollout needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/llama-rollout run --local

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compile: setup
	$(BIN)/llama-rollout compile --output $(PIPELINE)

benchmark: setup
	$(BIN)/python benchmarks/mirror.py

local-down: setup
	$(BIN)/llama-rollout local down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info
