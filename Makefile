# Two commands from a fresh clone: `make e2e` (the browser suite) and `make test` (everything).
# Every target is idempotent and says what it does; a second `make setup` skips all installs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FRONTEND := app/frontend
WORKERS ?= 2
PYTEST_ARGS ?=
# One shard of the browser suite: make e2e SHARD=2/3 (pytest-split, balanced by the
# durations in $(DURATIONS); refresh them with make durations).
SHARD ?=
DURATIONS := e2e/.test_durations
ifneq ($(SHARD),)
SHARD_GROUP := $(word 1,$(subst /, ,$(SHARD)))
SHARD_COUNT := $(word 2,$(subst /, ,$(SHARD)))
SPLIT_ARGS := --splits $(SHARD_COUNT) --group $(SHARD_GROUP) --durations-path $(DURATIONS) \
	--splitting-algorithm least_duration
RESULTS ?= test-results-shard-$(SHARD_GROUP)
endif
# Where the browser suite files its results: a folder per test, report.html, junit.xml
# and results.json (which stackwright merge reads).
RESULTS ?= test-results

.PHONY: help setup e2e e2e-postgres test test-fast dev bench lint docs clean durations

help:
	@echo "make setup   create .venv, install Python and npm dependencies, find or install Chromium"
	@echo "make e2e     setup, then the browser suite on $(WORKERS) workers (pytest -c playwright.ini -n $(WORKERS))"
	@echo "             SHARD=I/N runs shard I of N into test-results-shard-I; merge with .venv/bin/stackwright merge"
	@echo "make e2e-postgres  the same suite with every worker's database on PostgreSQL (a clone of the"
	@echo "             seeded template on a server the harness starts), into $(RESULTS)-postgres"
	@echo "make durations  record the browser suite's test durations in $(DURATIONS), which shards balance by"
	@echo "make test    setup, then the fast tests (tests/), the browser suite, and it on PostgreSQL"
	@echo "make dev     setup, then keep a stack (stackwright up -n 1): its URLs to click through, every"
	@echo "             service's log live; pytest runs of the suite attach to it. Ctrl-C stops it"
	@echo "make bench   setup, then the benchmarks (bench/results.json, docs/performance.md)"
	@echo "make lint    ruff, mypy and the frontend's typecheck"
	@echo "make docs    regenerate the tables of docs/configuration.md and docs/services.md, and .env.test.example"

setup: $(VENV)/.installed $(FRONTEND)/node_modules/.installed
	@echo "==> checking for a Chromium"
	@$(PY) -m stackwright.support.browser.setup

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11+ is needed; set PYTHON=/path/to/python3.11")'
	@test -x $(PY) || { echo "==> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing Python dependencies into $(VENV) (pip install -e '.[dev]': the harness, the reference app's and the tools')"
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# support/ and fixtures/ are mapped to stackwright.support and stackwright.fixtures:
	@# setuptools' editable finder serves the mapping (about 15 ms at each Python start of
	@# this checkout's venv; an installed wheel has no finder).
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(FRONTEND)/node_modules/.installed: $(FRONTEND)/package-lock.json $(FRONTEND)/package.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20+ (https://nodejs.org)"; exit 1; }
	@echo "==> installing frontend dependencies (npm ci in $(FRONTEND))"
	@cd $(FRONTEND) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

OUT = $(RESULTS)
E2E = $(PY) -m pytest -c playwright.ini -n $(WORKERS) --output $(OUT) \
	--html $(OUT)/report.html --junitxml $(OUT)/junit.xml \
	--screenshot only-on-failure --tracing retain-on-failure $(SPLIT_ARGS) $(PYTEST_ARGS)
FAST := $(PY) -m pytest tests $(PYTEST_ARGS)

e2e: setup
	@echo "==> browser suite on $(WORKERS) workers: $(E2E)"
	@$(E2E)

# The reference app runs on either engine: its commands name {db_url}. Its db_reset
# request restores a SQLite file only, so on PostgreSQL fresh_db clones the template.
POSTGRES := PLAYWRIGHT_DATABASE=postgresql PLAYWRIGHT_DB_RESET=template
e2e-postgres: OUT = $(RESULTS)-postgres
e2e-postgres: setup
	@$(PY) -m stackwright.support.database.setup
	@echo "==> browser suite on PostgreSQL, $(WORKERS) workers: $(POSTGRES) $(E2E)"
	@$(POSTGRES) $(E2E)

durations: setup
	@echo "==> recording test durations into $(DURATIONS)"
	@$(PY) -m pytest -c playwright.ini -n $(WORKERS) --output test-results-durations \
		--store-durations --clean-durations --durations-path $(DURATIONS) -q $(PYTEST_ARGS)

test-fast: setup
	@echo "==> fast tests: $(FAST)"
	@$(FAST)

test: setup
	@echo "==> fast tests: $(FAST)"
	@$(FAST)
	@echo "==> browser suite on $(WORKERS) workers, slow tests included, every test's service logs filed: $(E2E) --service-logs=on"
	@INCLUDE_SLOW_TESTS=true $(E2E) --service-logs=on
	@$(PY) -m tests.check_service_logs $(RESULTS) playwright.ini
	@$(MAKE) --no-print-directory e2e-postgres

docs: $(VENV)/.installed
	@$(PY) -m stackwright.support.config.envdoc playwright.ini docs/configuration.md .env.test.example docs/services.md

dev: setup
	@$(VENV)/bin/stackwright up -n 1 -c playwright.ini

bench: setup
	@echo "==> benchmarks (bench/)"
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@bash tools/typecheck.sh $(PY)
	cd $(FRONTEND) && npm run --silent typecheck

clean:
	rm -rf test-results test-results-shard-* test-results-durations $(FRONTEND)/dist data
