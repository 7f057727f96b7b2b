# otel-genesys — bootstrap a local virtualenv on demand, then run, test or benchmark.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## run: start the agent (embedded emulator when no credentials are configured);
##      the live table on a terminal, one line per probe otherwise
run: $(STAMP)
	@if [ -t 1 ]; then $(BIN)/otel-genesys run --live $(ARGS); else $(BIN)/otel-genesys run $(ARGS); fi

## test: install, lint, type-check, run the test suite
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check otel_genesys tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

## bench: run the benchmarks and write bench/results/REPORT.md
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
