# rootwatch developer entry points. Every target creates .venv and installs what it needs.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install lint typecheck test templates bench demo clean

$(STAMP): pyproject.toml layers/shared/requirements.txt
	@test -x $(BIN)/python || "$$(scripts/find-python)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	@for handler in functions/*/app.py; do \
		[ -e "$$handler" ] || continue; \
		$(BIN)/mypy --strict --follow-imports=silent "$$handler" || exit 1; \
	done

test: lint typecheck
	$(BIN)/python -m pytest -n auto

# cfn-lint, sam validate --lint and sam build of the stacks (also part of `make test`).
templates: $(STAMP)
	$(BIN)/python -m pytest -q -m templates tests/templates

bench: $(STAMP)
	$(BIN)/python -m bench

# The sample events through the spokes and the hub on this machine; one spoke's heartbeats
# stop, and the watchdog reports it.
demo: $(STAMP)
	$(BIN)/rootwatch local --events events/ --silence 111122223333:eu-west-1

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache
