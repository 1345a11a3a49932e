# Quick start: `make run` (install + the main job on the default config), `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: it is the CPU build; a looser spec could pull a multi-GB CUDA build.
install: $(BIN)/activate
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps recbole  # ships MovieLens-100k; its own deps are not needed

run: install
	$(BIN)/abtest-sim

test: install
	$(BIN)/python -m pytest -q

# ruff, the type checker and the layer contracts (pyproject.toml), as CI runs them.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
