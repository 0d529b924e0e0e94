# Two commands do all set-up: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || (rm -rf $(VENV) && scripts/system-deps.sh venv && $(PY) -m venv $(VENV))
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

deps: $(STAMP)

run: $(STAMP)
	@scripts/system-deps.sh run
	$(BIN)/crane-verify serve --demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check keys verify_api scanner tests bench

test: $(STAMP)
	@scripts/system-deps.sh test
	$(BIN)/ruff check keys verify_api scanner tests bench
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@scripts/system-deps.sh bench
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) var test-artifacts bench/out
