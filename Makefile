# The front door. `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
PY313 ?= env PYENV_VERSION=3.13.0 python3.13
VENV := .venv
BQ_VENV := .venv-bqemu
IAC_VENV := .venv-iac
STATE := .local
PORT ?= 8080
SCALE ?= small
ROLE ?= admin
SCOPE ?=
SCHOOL ?=
ARGS ?=

export CHECKPOINT_DISABLE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The shared package and the tools run from the checkout, as they do in a bundle.
export PYTHONPATH := $(CURDIR)

# Loads the servers' settings written by `make up` into the recipe's environment,
# after checking that those servers still run (else: say to run `make up`).
WITH_ENV = $(VENV)/bin/python -m tools.stack require --dir $(STATE) && \
	set -a && source $(STATE)/env && set +a &&

.PHONY: help setup up down status seed sync serve token run test lint typecheck \
	test-only package deploy bench bench-quick clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

# Each mk/*.mk adds its own targets (and may add to SETUP_EXTRA).
SETUP_EXTRA :=
include $(sort $(wildcard mk/*.mk))

setup: $(VENV)/.done $(BQ_VENV)/.done $(SETUP_EXTRA) ## create the venvs (idempotent)

$(VENV)/.done: requirements/dev.lock pyproject.toml
	@command -v java >/dev/null || { echo "error: java is missing; install Java 17 (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -qq -r requirements/dev.lock
	@touch $@

$(BQ_VENV)/.done: requirements/bqemu.lock
	@$(PY313) --version >/dev/null 2>&1 || { echo "error: Python 3.13 is missing; install it (pyenv install 3.13.0) or set PY313 to a Python 3.13 command" >&2; exit 1; }
	$(PY313) -m venv $(BQ_VENV)
	$(BQ_VENV)/bin/pip install -qq -r requirements/bqemu.lock
	@# Import the extension wheels so DuckDB never tries to download one at run time.
	for ext in icu ducklake spatial avro; do \
		$(BQ_VENV)/bin/python -c "from duckdb_extensions import extension_importer as e; e.import_extension('$$ext')" || exit 1; \
	done
	@touch $@

up: setup ## start Firestore, BigQuery and Pub/Sub servers on 127.0.0.1
	@$(VENV)/bin/python -m tools.stack up --dir $(STATE)

down: ## stop exactly the servers `make up` started
	@$(VENV)/bin/python -m tools.stack down --dir $(STATE)

status: ## show which local servers are running
	@$(VENV)/bin/python -m tools.stack status --dir $(STATE)

seed: ## load the sample warehouse into BigQuery (SCALE=small|medium|large)
	@$(WITH_ENV) $(VENV)/bin/python -m sample.load --scale $(SCALE)

sync: ## run one sync through the sync CLI (ARGS="--data-type teacher_data --force")
	@$(WITH_ENV) $(VENV)/bin/python -m perfcache.sync $(ARGS)

serve: ## serve the API with functions-framework on 127.0.0.1:$(PORT)
	@$(WITH_ENV) PERFCACHE_JWT_SECRET=$${PERFCACHE_JWT_SECRET:-$$($(VENV)/bin/python -m tools.devtoken --print-secret)} \
		$(VENV)/bin/functions-framework --source functions/api/main.py --target api \
		--host 127.0.0.1 --port $(PORT)

token: ## print a dev JWT (ROLE=admin|sector|school|teacher SCOPE=<id> [SCHOOL=<id>])
	@$(VENV)/bin/python -m tools.devtoken --role $(ROLE) $(if $(SCOPE),--scope $(SCOPE)) \
		$(if $(SCHOOL),--school $(SCHOOL))

run: setup ## everything: servers, sample data, a sync, then the API in the foreground
	@$(VENV)/bin/python -m tools.run --dir $(STATE) --port $(PORT)

lint: setup ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup ## mypy --strict
	$(VENV)/bin/mypy

test-only: setup ## the test suites alone (they start and stop their own servers)
	$(VENV)/bin/pytest $(ARGS)

test: lint typecheck test-only ## ruff, mypy --strict, then every test suite

clean: down ## stop the servers and remove local state and venvs
	rm -rf $(STATE) $(VENV) $(BQ_VENV) $(IAC_VENV) build
