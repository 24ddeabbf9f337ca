# One command installs everything into .venv and does the job.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LIMBO  ?= ../shared/conformance/limbo.json

.PHONY: install system-deps run test lint limbo pkits bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# Debian packages the tests use (systemd-analyze, systemd-socket-activate, openssl).
system-deps:
	bash scripts/install-system-deps.sh

# The daemon in the foreground with its defaults for the current user (XDG state and runtime
# directories; as root /var/lib/trustd and /run/trustd), the OS CA bundle as system anchors.
run: install
	$(BIN)/trustd

test: install system-deps
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

limbo: install
	$(BIN)/python -m trustd.conformance.limbo < $(LIMBO) > limbo-results.json
	$(BIN)/python ../shared/conformance/score.py $(LIMBO) limbo-results.json --details

pkits: install
	$(BIN)/python -m trustd.conformance.pkits --details

bench: install
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/daemon.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache limbo-results.json
