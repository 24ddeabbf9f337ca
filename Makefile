# One command installs everything into .venv and does the job (`make run`, `make test`);
# `sudo make install` installs trustd as the machine's service (see "Installing trustd as a
# service" in README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LIMBO  ?= tests/conformance/data/limbo.json

.PHONY: venv system-deps run test lint man limbo pkits bench clean wheels install uninstall

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The development environment: .venv with trustd editable and the tools.
venv: $(STAMP)

# Debian packages the tests use (systemd-analyze, systemd-socket-activate, openssl).
system-deps:
	bash scripts/install-system-deps.sh

# The daemon in the foreground with its defaults for the current user (XDG state and runtime
# directories; as root /var/lib/trustd and /run/trustd), the OS CA bundle as system anchors.
run: venv
	$(BIN)/trustd

# trustd's modules are byte-compiled first: the suite starts hundreds of daemons and commands,
# and an editable install has no bytecode of its own (nor writes any where
# PYTHONDONTWRITEBYTECODE is set), so each of them would compile every module again.
test: venv system-deps
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m compileall -q trustd
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

limbo: venv
	$(BIN)/python -m trustd.conformance.limbo < $(LIMBO) > limbo-results.json
	$(BIN)/python tests/conformance/data/score.py $(LIMBO) limbo-results.json --details

pkits: venv
	$(BIN)/python -m trustd.conformance.pkits --details

bench: venv
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/daemon.py

# The manual pages and docs/trustd.conf.example, regenerated from the code they document
# (tests/test_packaging.py fails while they differ).
man: venv
	$(BIN)/python scripts/manpages.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache limbo-results.json build dist

# --- Installing trustd as the machine's service ------------------------------------------------
#
#   make wheels                 trustd's wheel and its dependencies' into WHEELHOUSE (the
#                               network is needed here, and only here)
#   sudo make install           the environment, commands, units, manual pages, completions and
#                               /etc/trustd/trustd.conf; then, where systemd runs, enables and
#                               starts trustd.socket
#   sudo make uninstall         removes exactly what install added (an edited trustd.conf and
#                               the daemon's state in /var/lib/trustd stay)
#
# Packagers: `make wheels && make install DESTDIR=$(pwd)/stage PREFIX=/usr` stages the same tree
# a real install writes (scripts/system_install.py says how the environment is built at its
# final path).  Every directory below can be set on the command line.
PREFIX        ?= /usr/local
DESTDIR       ?=
SYSCONFDIR    ?= /etc
LIBDIR        ?= $(PREFIX)/lib/trustd
BINDIR        ?= $(PREFIX)/bin
MANDIR        ?= $(PREFIX)/share/man
DOCDIR        ?= $(PREFIX)/share/doc/trustd
UNITDIR       ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR   ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR    ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR   ?= $(PREFIX)/share/fish/vendor_completions.d
# The interpreter the environment is built on and links to: the system's, readable by every
# user (not one under a user's home directory), Python 3.11 or later.
SYSTEM_PYTHON ?= /usr/bin/python3
PIP           ?= $(SYSTEM_PYTHON) -m pip
WHEELHOUSE    ?= build/wheelhouse

SOURCES := pyproject.toml $(shell find trustd trustctl migrations -type f \
	\( -name '*.py' -o -name '*.varlink' -o -name '*.mako' -o -name py.typed \) 2>/dev/null)
LAYOUT   = --destdir '$(DESTDIR)' --prefix '$(PREFIX)' --sysconfdir '$(SYSCONFDIR)' \
	--libdir '$(LIBDIR)' --bindir '$(BINDIR)' --mandir '$(MANDIR)' --docdir '$(DOCDIR)' \
	--unitdir '$(UNITDIR)' --bashcompdir '$(BASHCOMPDIR)' --zshcompdir '$(ZSHCOMPDIR)' \
	--fishcompdir '$(FISHCOMPDIR)'

$(WHEELHOUSE)/.built: $(SOURCES)
	$(PIP) wheel --quiet --disable-pip-version-check --wheel-dir '$(WHEELHOUSE)' .
	touch $@

wheels: $(WHEELHOUSE)/.built

install: $(WHEELHOUSE)/.built
	$(SYSTEM_PYTHON) scripts/system_install.py install $(LAYOUT) \
		--python '$(SYSTEM_PYTHON)' --pip '$(PIP)' --wheelhouse '$(WHEELHOUSE)'

uninstall:
	$(SYSTEM_PYTHON) scripts/system_install.py uninstall $(LAYOUT)
