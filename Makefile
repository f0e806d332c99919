# Two commands do all the set-up on a fresh machine:
#   make run    creates .venv if needed, then runs the embedded default: results/summary.csv and results/tables/
#   make test   creates .venv if needed, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
CORES ?= $(shell nproc)
BIN := $(VENV)/bin

.PHONY: run test lint env clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: env
	$(BIN)/snakemake --cores $(CORES)

test: env
	$(BIN)/pytest -q

lint: env
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules

clean:
	rm -rf results .snakemake
