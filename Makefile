# Rapport's set-up commands. `make run` serves http://127.0.0.1:8000/graphql on an embedded
# PostgreSQL; `make test` runs the whole suite. Both install what they need first, once.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PY_STAMP  := $(VENV)/.installed
NPM_STAMP := rapport/graphiql/node_modules/.installed

.PHONY: run test setup browser lint schema bench clean

run: setup
	$(BIN)/rapport serve

test: setup browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(PY_STAMP) $(NPM_STAMP)

# torch==2.13.0 first and exactly: any other torch requirement pulls GBs of CUDA wheels.
$(PY_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Rapport needs Python 3.11+"'
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

# GraphiQL's assets, from the npm registry (never committed), so GraphiQL works offline.
$(NPM_STAMP): rapport/graphiql/package.json rapport/graphiql/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	cd rapport/graphiql && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# Debian's chromium, for the test that drives GraphiQL in a real browser.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

schema: setup
	$(BIN)/rapport schema

bench: setup
	$(BIN)/python bench/http_api.py

clean:
	-$(BIN)/rapport db stop
	rm -rf $(VENV) rapport/graphiql/node_modules
