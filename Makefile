# Asanak SMS gateway — developer entry points.
# Every target sets up what it needs: a fresh clone only needs python3.11+ and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
CFN_LINT := $(SAM_VENV)/bin/cfn-lint
SCAN_VENV := .venv-scan
CHECKOV := $(SCAN_VENV)/bin/checkov
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= eu-west-1
# The layer's packages, the sandbox and the repo root, as Lambda and pytest see them.
LOCAL_PATH := PYTHONPATH=$(CURDIR)/layers/shared:$(CURDIR)/sandbox:$(CURDIR)
# `sam build` needs the Lambda runtime's Python (3.13) on PATH: use pyenv's when the machine has one.
PY313_DIR := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin /root/.pyenv/versions/3.13*/bin))
ifneq ($(PY313_DIR),)
SAM_PATH := PATH="$(PY313_DIR):$$PATH"
endif

.PHONY: help run demo test lint format typecheck validate build deploy bench sim republish clean unit integration e2e

help:
	@echo "make run       the whole stack on this machine (no AWS account, no Docker)"
	@echo "make demo      run the stack, send a few messages, show their lifecycle, exit"
	@echo "make test      everything CI checks: lint, template validation, the whole test suite"
	@echo "make bench     benchmarks against a naive baseline"
	@echo "make sim N=…   the send path's duplicate/loss simulation over N seeded schedules (SEED=first seed, P2P=1: v2rest's p2psendsms)"
	@echo "make build     sam build;  make deploy: sam deploy (guided the first time)"

# --- virtualenvs: (re)created when missing or when a pinned file changes -------------------------
$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

$(SCAN_VENV)/.installed: requirements-scan.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --quiet --disable-pip-version-check -r requirements-scan.txt
	@touch $@

# --- the two commands ------------------------------------------------------------------------------
run: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m local_stack $(ARGS)

demo: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m local_stack --demo $(ARGS)

test: lint validate
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# --- pieces of `make test` ------------------------------------------------------------------------
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(LOCAL_PATH) $(VENV)/bin/lint-imports --no-cache

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: $(SAM_VENV)/.installed $(SCAN_VENV)/.installed
	$(CFN_LINT) template.yaml
	$(CFN_LINT) template.yaml --append-rules cfn_lint_serverless.rules
	@# Exits 1 on any finding not suppressed in the resource's Metadata (checkov: skip: id + comment).
	$(CHECKOV) -f template.yaml --framework cloudformation --compact --quiet --skip-download
	$(SAM) validate --lint --template template.yaml
	$(SAM_PATH) $(SAM) build --cached --parallel --template template.yaml

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

build: $(SAM_VENV)/.installed
	$(SAM_PATH) $(SAM) build --cached --parallel

deploy: build
	@if [ -f samconfig.toml ] && grep -q '^stack_name' samconfig.toml; then $(SAM) deploy; else $(SAM) deploy --guided; fi

bench: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m bench $(ARGS)

# Re-publish the events of every item changed since SINCE (after an outage longer than the stream).
republish: $(VENV)/.installed
	@test -n "$(SINCE)" || { echo "usage: make republish SINCE=2026-12-01T06:00:00Z STACK=name (or LOCAL=1)"; exit 2; }
	$(LOCAL_PATH) $(PY) -m smsctl $(if $(LOCAL),--local,--stack $(STACK)) republish --since $(SINCE) $(ARGS)

N ?= 10000
SEED ?= 0
sim: $(VENV)/.installed
	$(LOCAL_PATH) $(PY) -m tests.sim --schedules $(N) --seed $(SEED) $(if $(P2P),--p2p)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(SAM_VENV) $(SCAN_VENV)
