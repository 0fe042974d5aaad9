# The two commands a newcomer needs: `make run` and `make test`.
# Both create and fill the local virtual environment (.venv) by themselves: `make run`
# installs only what the demo runs; `make test` adds the test tools and the infra checks.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
HASH   := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUN_EXTRAS  := device,face,server
TEST_EXTRAS := $(RUN_EXTRAS),test,infra
# One stamp per set of extras, named after pyproject.toml's checksum: editing it reinstalls.
RUN_STAMP   := $(VENV)/.installed-run-$(HASH)
TEST_STAMP  := $(VENV)/.installed-test-$(HASH)

export FLASK_APP := app

.PHONY: run test install install-test lint typecheck check-migrations pytest clean lint-docker
.PHONY: test-infra ensure-chromium

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[$(RUN_EXTRAS)]'
	rm -f $(VENV)/.installed-run-*
	touch $@

# The test stamp includes everything the run stamp does, so it stands for both.
$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[$(TEST_EXTRAS)]'
	rm -f $(VENV)/.installed-test-* $(VENV)/.installed-run-*
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)
install-test: $(TEST_STAMP)

## The backend with an embedded SQLite database, a demo site and a demo dispenser.
run: install
	$(BIN)/flask --app app demo $(DEMO_ARGS)

## Everything CI checks: lint, types, import boundaries, migrations, the test suite.
test: install-test ensure-chromium lint typecheck check-migrations pytest

lint: lint-docker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## The backend image definition (Docker itself is not needed).
lint-docker: install-test
	$(BIN)/hadolint Dockerfile

## Only the infrastructure checks: synthesise both environments offline, cdk-nag, cfn-lint.
## (`make test` runs them too: pytest collects tests/infra.)
test-infra: install-test
	$(BIN)/pytest tests/infra $(PYTEST_ARGS)

typecheck: install-test
	$(BIN)/mypy

## The models and the migrations must agree (`flask db check` on a fresh SQLite database).
check-migrations: install
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  FAIRROLL_INSTANCE_PATH="$$tmp" $(BIN)/flask --app app db upgrade >/dev/null 2>&1 && \
	  FAIRROLL_INSTANCE_PATH="$$tmp" $(BIN)/flask --app app db check 2>/dev/null

## Spread over every core (pytest-xdist), one test file per worker at a time (module
## fixtures such as a backend process start once; tests/conftest.py groups them);
## PYTEST_ARGS=-n0 runs in one process.
## The slowest 15 tests are listed at the end (pyproject's --durations=15).
pytest: install-test
	$(BIN)/pytest -n auto --dist loadgroup $(PYTEST_ARGS)

## Page tests drive Debian's chromium (Playwright never downloads a browser here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ensure-chromium:
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Visitor page translations: compile backend/translations/*/LC_MESSAGES/messages.po to .mo.
## The .mo files are build output (git-ignored; the image compiles its own), so whichever
## Babel a machine has, `git status` stays clean after `make run` and `make test`.
.PHONY: translations translations-update ensure-cjk-font ensure-strace axe-core
translations: install
	$(BIN)/pybabel --quiet compile -d backend/translations

## After changing texts in templates or code: re-extract, then translate the new entries.
translations-update: install-test
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
	  -o backend/translations/messages.pot . >/dev/null
	$(BIN)/pybabel update -i backend/translations/messages.pot -d backend/translations \
	  --width 100

## The Chinese visitor pages need a CJK font in Chromium (screenshots otherwise show boxes).
ensure-cjk-font:
	@fc-list :lang=zh 2>/dev/null | grep -q . || ! command -v apt-get >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fonts-wqy-microhei)

## The face privacy proof watches the real dispenser's file operations with strace.
ensure-strace:
	@command -v strace >/dev/null || ! command -v apt-get >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq strace)

## axe-core (accessibility checks inside the browser tests), from the npm registry.
axe-core: node_modules/axe-core/axe.min.js
node_modules/axe-core/axe.min.js: package.json package-lock.json
	@if [ -n "$$CI" ] || [ "$$FAIRROLL_REQUIRE_AXE" = 1 ]; then \
	  npm ci --no-audit --no-fund --loglevel=error; \
	else \
	  npm ci --no-audit --no-fund --loglevel=error || \
	  echo "warning: npm could not install axe-core; the accessibility tests will be skipped"; \
	fi
	@test ! -f $@ || touch $@

run: translations
pytest: translations ensure-chromium ensure-cjk-font ensure-strace axe-core
