# SignalOps assets. `make run` then `make test` from a fresh clone; no API key needed.
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.13.9
VENV := .venv
UV := .tools/uv/bin/uv
export LITELLM_LOCAL_MODEL_COST_MAP := True
# DAGSTER_HOME from the environment wins; the default is the repository's own instance.
export DAGSTER_HOME := $(abspath $(or $(DAGSTER_HOME),$(CURDIR)/data/dagster_home))
DAGSTER_PORT ?= 3000
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: install run dev test lint typecheck bench sample clean

$(UV):
	$(PY) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet "uv==$(UV_VERSION)"

# Installs exactly what uv.lock pins (with hashes), argilla extra included.
# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
# process would otherwise compile LiteLLM from source on import, seconds of CPU each time.
install: $(UV)
	$(UV) sync --frozen --extra argilla --compile-bytecode
	@mkdir -p $(DAGSTER_HOME)
	@cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true
	@# Create the instance's SQLite storage once, up front: runs started at the same moment on
	@# a fresh instance race to create it (a UNIQUE failure on Dagster's alembic stamp).
	@test -f $(DAGSTER_HOME)/history/runs.db || $(VENV)/bin/dagster instance migrate >/dev/null

run: install
	$(VENV)/bin/python -m signalops_assets.demo

# Started from DAGSTER_HOME: Dagster warns about a dagster.yaml in the current directory
# (the repository's template) that is not the instance's.
# `dagster dev` itself is marked superseded by `dg dev` (dagster-dg-cli, not a dependency).
dev: install
	cd "$(DAGSTER_HOME)" && PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
		"$(CURDIR)/$(VENV)/bin/dagster" dev -w "$(CURDIR)/workspace.yaml" -p $(DAGSTER_PORT)

lint: install
	$(VENV)/bin/ruff check signalops_assets signalops_assets_tests bench data/generate_sample.py
	$(VENV)/bin/ruff format --check signalops_assets signalops_assets_tests bench data/generate_sample.py

typecheck: install
	$(VENV)/bin/mypy --strict signalops_assets

# Two pytest workers (pytest-xdist): every test has its own databases, ports and tmp dirs.
PYTEST_WORKERS ?= 2
test: lint typecheck
	$(VENV)/bin/pytest -q -ra -n $(PYTEST_WORKERS)

bench: install
	$(VENV)/bin/python -m bench

sample: install
	$(VENV)/bin/python data/generate_sample.py

clean:
	rm -rf data/signalops.db* data/dagster_home data/exports
