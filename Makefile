# The two commands a newcomer needs: `make run` and `make test`.
# Both create and fill the local virtual environment (.venv) by themselves.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

export FLASK_APP := app

.PHONY: run test install lint typecheck check-migrations pytest clean lint-docker test-infra
.PHONY: ensure-chromium

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[device,face,dev,server,infra]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

## The backend with an embedded SQLite database, a demo site and a demo dispenser.
run: install
	$(BIN)/flask --app app demo $(DEMO_ARGS)

## Everything CI checks: lint, types, import boundaries, migrations, the test suite.
test: install ensure-chromium lint typecheck check-migrations pytest

lint: lint-docker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## The backend image definition (Docker itself is not needed).
lint-docker: install
	$(BIN)/hadolint Dockerfile

## Only the infrastructure checks: synthesise both environments offline, cdk-nag, cfn-lint.
## (`make test` runs them too: pytest collects tests/infra.)
test-infra: install
	$(BIN)/pytest tests/infra $(PYTEST_ARGS)

typecheck:
	$(BIN)/mypy

## The models and the migrations must agree (`flask db check` on a fresh SQLite database).
check-migrations:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  FAIRROLL_INSTANCE_PATH="$$tmp" $(BIN)/flask --app app db upgrade >/dev/null 2>&1 && \
	  FAIRROLL_INSTANCE_PATH="$$tmp" $(BIN)/flask --app app db check 2>/dev/null

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

## Page tests drive Debian's chromium (Playwright never downloads a browser here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ensure-chromium:
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Visitor page translations: compile backend/translations/*/LC_MESSAGES/messages.po to .mo.
## The .mo files are committed as well (a container build copies the source tree as is);
## this step keeps them in step with the .po files before every run and test.
.PHONY: translations translations-update ensure-cjk-font axe-core
translations: install
	$(BIN)/pybabel compile -d backend/translations >/dev/null

## After changing texts in templates or code: re-extract, then translate the new entries.
translations-update: install
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
	  -o backend/translations/messages.pot . >/dev/null
	$(BIN)/pybabel update -i backend/translations/messages.pot -d backend/translations \
	  --width 100

## The Chinese visitor pages need a CJK font in Chromium (screenshots otherwise show boxes).
ensure-cjk-font:
	@fc-list :lang=zh 2>/dev/null | grep -q . || ! command -v apt-get >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fonts-wqy-microhei)

## axe-core (accessibility checks inside the browser tests), from the npm registry.
axe-core: node_modules/axe-core/axe.min.js
node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error || \
	  echo "warning: npm could not install axe-core; the accessibility tests will be skipped"
	@test ! -f $@ || touch $@

run: translations
pytest: translations ensure-chromium ensure-cjk-font axe-core
