# Two commands matter: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint mutants faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q einsum_cascade arch_models mappers simulator workloads  # bytecode even under PYTHONDONTWRITEBYTECODE
	$(BIN)/python -m simulator.cli.warm_kernels  # compile the Numba kernels once, here, not in the first command
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cascade demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/cascade bench

mutants: $(STAMP)  # every one-line mutation in tests/mutants/mutations.yaml must make a test fail
	$(BIN)/python tests/mutants/run.py

faults: $(STAMP)  # random SIGKILLs of sweeps and reproduce, a full disk, a read-only folder, a truncated file
	$(BIN)/python tests/faults/run.py

clean:
	rm -rf $(VENV) build *.egg-info
