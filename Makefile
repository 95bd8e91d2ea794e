# Two commands on a fresh machine with only Python 3.11: `make demo` and `make test`.
# The venv is (re)installed only when pyproject.toml changes: the stamp carries its hash.
PY ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export SHOPLAB_DATA ?= $(CURDIR)/data

.PHONY: install demo lint test test-slow test-all bench audit dashboard clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,bench,spark]"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	$(BIN)/shoplab demo

# Lint, types and layers: what .ci/run checks before the tests (each configured in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

test: install
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: install
	$(BIN)/python -m pytest -m "slow" -q

test-all: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/shoplab bench

audit: install
	$(BIN)/shoplab audit

dashboard: install
	$(BIN)/shoplab dashboard

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
