# Rapport's set-up commands. `make run` serves http://127.0.0.1:8000/graphql on an embedded
# PostgreSQL; `make test` runs the whole suite. Both install what they need first, once.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LOCK_STAMP := $(VENV)/.locked
PY_STAMP   := $(VENV)/.installed
NPM_STAMP  := rapport/graphiql/node_modules/.installed
CLIENTS_STAMP := tests/clients/node_modules/.installed
WEB_STAMP  := examples/web/node_modules/.installed
# The folder holding the torch 2.13.0 CPU wheel (see requirements.in).
TORCH_WHEELS ?= /opt/wheels

.PHONY: run test setup browser qemu wrk lint schema bench lock clean

run: setup
	$(BIN)/rapport serve

test: setup browser qemu
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(PY_STAMP) $(NPM_STAMP) $(CLIENTS_STAMP) $(WEB_STAMP)

# Exactly the versions of requirements.lock, each checked against its hashes, and nothing
# else (--no-deps): torch is its 2.13.0 CPU build, so no CUDA package can come in.
$(LOCK_STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(None if sys.version_info[:2] == (3, 11) else "error: requirements.lock is for Python 3.11 (torch'"'"'s CPU wheel is cp311): make PYTHON=python3.11")'
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install --quiet --require-hashes --no-deps --find-links $(TORCH_WHEELS) -r requirements.lock
	touch $@

# Rapport itself, editable and not hash-checked, from the locked setuptools (no build
# isolation) and from what is installed only (--no-index): if pyproject.toml asks for a
# package or version that requirements.lock does not hold, this fails instead of fetching it.
$(PY_STAMP): $(LOCK_STAMP) pyproject.toml
	$(BIN)/pip install --quiet --no-index --no-build-isolation -e '.[dev]' --config-settings editable_mode=compat \
		|| { echo "error: pyproject.toml asks for more than requirements.lock holds: run make lock"; exit 1; }
	$(BIN)/pip check
	touch $@

# Rewrites requirements.lock from pyproject.toml (dependencies and the dev extra) and
# requirements.in, keeping the versions already locked where they still fit. Upgrades are
# taken deliberately: make lock LOCK_ARGS=--upgrade (or --upgrade-package NAME). A lock with
# CUDA packages in it (torch not the CPU build) is refused and the old one kept.
LOCK_NEW := $(VENV)/requirements.lock.new
lock: $(LOCK_STAMP)
	cp requirements.lock $(LOCK_NEW)
	$(BIN)/uv pip compile --quiet --generate-hashes --extra dev --python $(BIN)/python \
		--find-links $(TORCH_WHEELS) --custom-compile-command 'make lock' $(LOCK_ARGS) \
		-o $(LOCK_NEW) pyproject.toml requirements.in
	@! grep -iE '^(nvidia|cuda|triton)' $(LOCK_NEW) \
		|| { echo "error: CUDA packages above: torch must be 2.13.0+cpu (requirements.in)"; exit 1; }
	@if cmp -s $(LOCK_NEW) requirements.lock; then rm $(LOCK_NEW); echo "requirements.lock: unchanged"; \
		else mv $(LOCK_NEW) requirements.lock; echo "requirements.lock: rewritten (git diff requirements.lock)"; fi

# GraphiQL's assets, from the npm registry (never committed), so GraphiQL works offline.
$(NPM_STAMP): rapport/graphiql/package.json rapport/graphiql/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	cd rapport/graphiql && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# The client libraries the tests run against a live server (Apollo, urql, graphql-ws, the
# graphql-http audit), from the npm registry, never committed.
$(CLIENTS_STAMP): tests/clients/package.json tests/clients/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	cd tests/clients && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# The reference web client's packages (Apollo Client, graphql-ws, vite), from the npm registry,
# never committed: tests/test_web_client.py builds it; `npm --prefix examples/web run dev` serves it.
$(WEB_STAMP): examples/web/package.json examples/web/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	cd examples/web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# Debian's chromium, for the test that drives GraphiQL in a real browser.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Debian's qemu-user, for the test that runs the encoder on an emulated AVX2-only x86 CPU.
qemu:
	@command -v qemu-x86_64 >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq qemu-user; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

schema: setup
	$(BIN)/rapport schema

# Debian's wrk, the load generator of bench/http_api.py.
wrk:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }

bench: setup wrk
	$(BIN)/python bench/http_api.py

clean:
	-$(BIN)/rapport db stop
	rm -rf $(VENV) rapport/graphiql/node_modules
