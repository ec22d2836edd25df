# Doorstep: set up, run and test.
#   make run    serve the app on http://127.0.0.1:8000 (with the scheduler), demo town on first run
#   make test   what CI runs (.ci/run): ruff, the whole suite on SQLite, then on PostgreSQL
#   make setup  Python deps into .venv, npm ci, htmx into static/vendor, translations compiled
#   make lint   ruff check .
# Installs are skipped while pyproject.toml / package-lock.json are unchanged (.stamp-* files).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export DEBIAN_FRONTEND := noninteractive
export NPM_CONFIG_FUND := false
export NPM_CONFIG_AUDIT := false

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_GET := $(SUDO) apt-get -y -q -o DPkg::Lock::Timeout=900
TEST_SYSTEM_PACKAGES := chromium fonts-noto-cjk postgresql nginx

.PHONY: help run setup setup-test lint test test-sqlite test-postgres translations \
        system-packages system-packages-test clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# -- system packages (apt-get, only when missing) ---------------------------------------------

define apt_ensure
	missing=""; \
	for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  $(APT_GET) update; \
	  $(APT_GET) install --no-install-recommends $$missing; \
	fi
endef

system-packages:
	@if ! command -v npm >/dev/null; then $(call apt_ensure,npm); fi

system-packages-test: system-packages
	@$(call apt_ensure,$(TEST_SYSTEM_PACKAGES))

# -- Python ------------------------------------------------------------------------------------

$(PY):
	$(PYTHON) -m venv $(VENV)

.stamp-python: pyproject.toml scripts/requirements.py $(PY)
	$(PY) -m pip install -q -r <($(PY) scripts/requirements.py)
	touch $@

.stamp-python-test: pyproject.toml scripts/requirements.py .stamp-python
	$(PY) -m pip install -q -r <($(PY) scripts/requirements.py test)
	touch $@

# -- front-end vendor files --------------------------------------------------------------------

.stamp-npm: package.json package-lock.json | system-packages
	npm ci --no-audit --no-fund
	touch $@

static/vendor/htmx.min.js: .stamp-npm
	test -f node_modules/htmx.org/dist/htmx.min.js || npm ci --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# The desk's QR decoder where the browser has no BarcodeDetector (Chromium on Linux, Firefox).
static/vendor/jsQR.js: .stamp-npm
	test -f node_modules/jsqr/dist/jsQR.js || npm ci --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/jsqr/dist/jsQR.js $@

translations: .stamp-python
	@if compgen -G 'translations/*/LC_MESSAGES/*.po' >/dev/null; then \
	  $(VENV)/bin/pybabel -q compile -d translations; \
	else \
	  echo "No translations to compile."; \
	fi

# -- entry points ------------------------------------------------------------------------------

setup: system-packages .stamp-python static/vendor/htmx.min.js static/vendor/jsQR.js translations

setup-test: setup .stamp-python-test

run: setup
	scripts/run.sh

lint: .stamp-python-test
	$(VENV)/bin/ruff check .

test-sqlite: setup-test
	DOORSTEP_TEST_DB=sqlite $(VENV)/bin/pytest $(PYTEST_ARGS)

test-postgres: setup-test
	DOORSTEP_TEST_DB=postgres $(VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS)

# Every stage runs even when an earlier one fails, so one CI run shows all problems;
# the exit status is non-zero when any stage failed.
test: system-packages-test setup-test
	@failed=""; \
	echo "== ruff check ."; \
	$(VENV)/bin/ruff check . || failed="$$failed ruff"; \
	echo "== pytest on SQLite (whole suite)"; \
	DOORSTEP_TEST_DB=sqlite $(VENV)/bin/pytest $(PYTEST_ARGS) || failed="$$failed pytest-sqlite"; \
	echo "== pytest on PostgreSQL (all but browser tests)"; \
	DOORSTEP_TEST_DB=postgres $(VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS) || failed="$$failed pytest-postgres"; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi; \
	echo "All checks passed: ruff, pytest on SQLite, pytest on PostgreSQL."

clean:
	rm -rf .stamp-* node_modules static/vendor .pytest_cache .ruff_cache screenshots
