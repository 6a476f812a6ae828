# tlsdiag: `make run` starts the daemon on the shipped config, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types pytest venv clean bench

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/tlsdiag daemon --config config/tlsdiag.toml --progress

lint: $(STAMP)
	$(BIN)/ruff check diagnostics tests
	$(BIN)/ruff format --check diagnostics tests

types: $(STAMP)
	$(BIN)/mypy --strict diagnostics

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python -m tests.bench.run

clean:
	rm -rf $(VENV) build *.egg-info
