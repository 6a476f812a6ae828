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

# The tools the bench compares with (and a profiler) live in a venv of their own, never in
# the product's: sslyze pins its own cryptography.  Without network the bench says "not installed".
BENCH_VENV = .venv-bench

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	-$(BENCH_VENV)/bin/pip install --quiet sslyze pyinstrument && touch $@

bench: $(STAMP) $(BENCH_VENV)/.installed
	$(BIN)/python -m tests.bench.run

clean:
	rm -rf $(VENV) build *.egg-info
