# Two commands set everything up on a fresh machine:
#   make demo   runs the main job end to end on the local stack
#   make test   installs, lints, starts the stack, runs the tests, stops the stack
# Every target installs what it needs first.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The functions run on python312 in the cloud; use the same minor version locally when the machine
# has it (pyenv keeps it off the PATH), else the default python3.
PYTHON ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12 || command -v python3)
# The BigQuery emulator (local-bigquery) needs Python 3.13.
PYTHON313 ?= $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13)

STACK_DIR ?= .local
VENV := .venv
BQ_VENV := .venv-bigquery
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

export STACK_DIR

.PHONY: help install stack-up stack-down stack-status lint test reliability demo build bench deploy clean

help:
	@echo "make demo         run a pass1 batch end to end on the local stack"
	@echo "make test         install, lint, start the local stack, run the tests, stop the stack"
	@echo "make lint         ruff (pyflakes, pycodestyle, isort, bugbear) and mypy on shared/ and functions/"
	@echo "make reliability  only the reliability suite; rewrites reliability/report.json and docs/reliability.md's table"
	@echo "make stack-up     start the local stack (writes $(STACK_DIR)/stack.env)"
	@echo "make stack-down   stop every process the stack started"
	@echo "make test-unit    only the tests that need no emulator (not marked stack or slow); no stack started"
	@echo "make build        vendor shared/ into build/<function>/ for deploy"
	@echo "make bench        processor throughput and memory vs parse floor and naive path (BENCH_SIZES=10,100,1000);"
	@echo "                  submit_batch records/s and calls for 100k/1M/10M (BENCH_SUBMIT_RECORDS=20000);"
	@echo "                  then the scale stage (bench/results/scale.json)"

install: $(VENV)/.installed $(BQ_VENV)/.installed

$(VENV)/.installed: requirements-dev.txt functions/*/requirements.txt functions/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Two pip steps on purpose: see infra/local/bigquery-emulator-requirements.txt.
$(BQ_VENV)/.installed: infra/local/bigquery-emulator-requirements.txt infra/local/bigquery-emulator-duckdb.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is needed for the BigQuery emulator"; exit 1; }
	$(PYTHON313) -m venv $(BQ_VENV)
	$(BQ_VENV)/bin/python -m pip install -q --upgrade pip
	$(BQ_VENV)/bin/python -m pip install -q -r infra/local/bigquery-emulator-requirements.txt
	$(BQ_VENV)/bin/python -m pip install -q -r infra/local/bigquery-emulator-duckdb.txt 2>&1 | grep -v -i -E "resolver|incompatible|dependency conflicts" || true
	$(BQ_VENV)/bin/python -c "from duckdb_extensions import import_extension as i; [i(e) for e in ('ducklake','icu','spatial')]"
	touch $@

stack-up: install
	$(PY) -m infra.local.stack up

stack-down:
	@if [ -x $(PY) ]; then $(PY) -m infra.local.stack down; else echo "nothing to stop"; fi

stack-status: install
	$(PY) -m infra.local.stack status

build: install
	$(PY) -m infra.build

# Settings in pyproject.toml.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The pure and in-process tests: no emulator is started (tests/conftest.py marks those that need one).
.PHONY: test-unit
test-unit: $(VENV)/.installed
	$(PY) -m pytest -m "not stack and not slow" $(PYTEST_ARGS)

# Crashes, service faults, concurrency, hostile input, security (also part of make test). Only this
# target rewrites reliability/report.json and the table rendered from it (RELIABILITY_WRITE_REPORT).
reliability: install
	RELIABILITY_WRITE_REPORT=1 $(PY) -m pytest tests/reliability $(PYTEST_ARGS)

demo: install
	$(PY) -m tools.demo

# Sizes in MB from BENCH_SIZES (default 10,100; add 1000 for the 1 GB case); figures also go to
# bench/results/latest.json (BENCH_OUT). Stage 4 uses the stack in $(STACK_DIR), started if needed.
# Then the scale stage (bench/scale.py): a run of SCALE_LINES (100,000) lines in SCALE_FILES (8)
# files through the write path, with its BigQuery jobs and the cost model, to bench/results/scale.json.
bench: install
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.scale

clean: stack-down
	rm -rf build $(VENV) $(BQ_VENV) $(STACK_DIR)

# Deploy to a real project: make deploy PROJECT=my-project REGION=europe-west4 [BQ_LOCATION=EU] [DRY_RUN=1]
deploy: install
	$(PY) -m infra.deploy --project "$(PROJECT)" --region "$(REGION)" $(if $(BQ_LOCATION),--bq-location "$(BQ_LOCATION)",) $(if $(DRY_RUN),--dry-run,)
