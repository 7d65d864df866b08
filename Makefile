# The two commands: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.run-stamp
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check

.PHONY: run test lint unit bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# `make run` installs what running needs (the service and the embedded DynamoDB);
# `make test` adds the dev tools.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[local]'
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

# checkov (the template's security scan, issue 16) pins an old boto3: it gets a venv of its own.
CHECKOV := $(VENV)/checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install -q --disable-pip-version-check 'checkov>=3.2,<3.3'

run: $(RUN_STAMP)
	$(BIN)/python -m chalicelib.local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHECKOV)
	@sh tests/browser/ensure_chromium.sh
	$(BIN)/python -m pytest -n auto --dist loadgroup

bench: $(STAMP)
	$(BIN)/python -m bench

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache

# Deployment targets (package, deploy) live beside the templates.
-include infra/make.mk
