# Crewboard developer commands. `make run` and `make test` are all a newcomer needs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Records the pyproject.toml that was last installed, so an unchanged one skips pip.
INSTALLED := $(VENV)/.installed
ARGS ?=

.PHONY: help run install test test-under-load lint format migrate bootstrap clean browser-test fuzz tools tools-npm tools-debian

help:
	@echo "make run [PORT=8000]  install, migrate, create the admin user, start web + worker"
	@echo "make test [ARGS=...]  run the test suite (set DATABASE_URL/REDIS_URL for PostgreSQL + Redis)"
	@echo "make test-under-load  the suite 3 times in random order beside stress-ng (RUNS=3 STRESS_CPUS=2)"
	@echo "make browser-test     headless Chromium tests of the dashboard against a throwaway server (e2e/)"
	@echo "make fuzz             schemathesis against the REST API of a throwaway server on PostgreSQL (fuzz/)"
	@echo "make install          create .venv and install the project with its dev tools"
	@echo "make tools            install what agents run: bubblewrap (Debian) and the coding CLIs (npm, under var/tools/)"
	@echo "make lint             ruff check + ruff format --check + lint-imports + mypy"
	@echo "make format           ruff format + ruff check --fix"
	@echo "make migrate          apply database migrations"
	@echo "make clean            remove caches, collected static files and test databases"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Crewboard needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Try: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

install: $(INSTALLED)

# A fresh SECRET_KEY for this checkout. An existing .env is never touched.
.env: | $(BIN)/python
	@umask 077 && { \
		echo "# Written by 'make run'. Every setting is described in .env.example."; \
		echo "SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	} > $@
	@echo "Wrote .env with a new SECRET_KEY."

bootstrap: install .env
	$(BIN)/python manage.py bootstrap

# honcho gets an empty env file: Django reads .env itself, and honcho's loader would
# let .env override the shell environment (DATABASE_URL=... make run must win).
run: bootstrap
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --env /dev/null --procfile Procfile --port $(PORT)

migrate: install .env
	$(BIN)/python manage.py migrate

test: install
	$(BIN)/pytest $(ARGS)

# Flaky-test hunt: the suite RUNS times, each with its own random order, beside
# stress-ng (installed from Debian when missing). Logs in var/under-load/.
test-under-load: install
	bash tests/under_load.sh $(ARGS)

# Installs Debian's chromium when /usr/bin/chromium is missing, runs `npm ci` in e2e/,
# starts gunicorn + a worker on a free port with a throwaway database, runs the browser
# tests and stops the servers. Screenshots land in e2e/screenshots/.
browser-test: install
	bash e2e/run.sh

# gunicorn on a free port with a throwaway PostgreSQL database (FUZZ_DATABASE_URL), the
# demo project, a token and an agent key; schemathesis's four phases as both. Fails on
# any 5xx or response off the schema.
fuzz: install
	bash fuzz/run.sh

# The npm CLIs that agents run (codex) and that plan import/MCP features use, at the
# versions pinned by tools/package-lock.json, in a cache under var/tools/. Compares the
# lock file's contents (not timestamps, which a fresh clone resets): an unchanged one
# skips npm. The stamp is written only after `npm ci` succeeded.
TOOLS_DIR ?= var/tools

tools-npm:
	@if cmp -s tools/package-lock.json $(TOOLS_DIR)/.installed-lock.json; then \
		echo "npm tools already installed in $(TOOLS_DIR)"; \
	else \
		command -v npm >/dev/null || { echo "make tools-npm needs npm (Debian: apt-get install npm)" >&2; exit 1; }; \
		mkdir -p $(TOOLS_DIR) && \
		cp tools/package.json tools/package-lock.json $(TOOLS_DIR)/ && \
		npm ci --prefix $(TOOLS_DIR) --no-audit --no-fund --loglevel=error && \
		cp tools/package-lock.json $(TOOLS_DIR)/.installed-lock.json && \
		echo "npm tools installed in $(TOOLS_DIR)/node_modules/.bin"; \
	fi

tools: tools-debian tools-npm

# Agent commands run inside bubblewrap when it is installed (AGENT_SANDBOX=auto); without
# it they run unconfined, so a host that cannot install it only gets a warning.
tools-debian:
	@if command -v bwrap >/dev/null 2>&1; then \
		echo "bubblewrap: $$(command -v bwrap)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "warning: no apt-get; install bubblewrap yourself, or agent commands run unconfined" >&2; \
	else \
		SUDO=; [[ $$(id -u) == 0 ]] || SUDO=sudo; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get install -y --no-install-recommends bubblewrap || \
			{ $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends bubblewrap; } || \
			echo "warning: could not install bubblewrap; agent commands run unconfined" >&2; \
	fi

# mypy's Django plugin loads the settings, which refuse to start without a SECRET_KEY:
# it gets a throwaway one, so lint needs no .env.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	SECRET_KEY=lint-only $(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Keeps .venv, .env, the database and the admin password.
clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .import_linter_cache var/static var/broker
	rm -f var/test_crewboard_*.sqlite3*
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
