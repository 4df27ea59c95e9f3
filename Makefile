# Everything starts from python3 alone: the first target that needs the environment builds it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
# `make run PORT=8001` (or HOST=0.0.0.0) serves elsewhere.
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint unit integration bench clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# One `crm worker` runs background jobs beside the server, and stops when the server stops.
run: install
	$(BIN)/crm db upgrade
	$(BIN)/crm demo --host $(HOST) --port $(PORT)
	$(BIN)/crm worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	trap 'exit 130' INT TERM; \
	$(BIN)/crm serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest tests/unit -q -p no:cacheprovider

integration: install
	$(call pytest_then_schemathesis,tests/integration)

test: lint
	$(call pytest_then_schemathesis,tests)

# The tests under $(1) on two workers, then schemathesis on its own. Beside other tests in one
# worker its fuzzing drew differently from run to run (three runs, each with another
# operation left without a 2xx); alone, its draws were the seed's (five runs alike, in one
# process or under xdist).
SCHEMATHESIS = tests/integration/proof/test_schemathesis.py
define pytest_then_schemathesis
	$(BIN)/pytest $(1) -q -p no:cacheprovider -n 2 --ignore=$(SCHEMATHESIS)
	CRM_POSTGRES_NOTE_SAID=1 $(BIN)/pytest $(SCHEMATHESIS) -q -p no:cacheprovider
endef

# The local PostgreSQL server unless CRM_BENCH_POSTGRES_URL names another one.
CRM_BENCH_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export CRM_BENCH_POSTGRES_URL

# The read-side timings, then the served API beside a bare-Flask floor (needs wrk).
bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.compare

# PNGs of the web app on the demo data into docs/screenshots/, with Debian's chromium.
.PHONY: screenshots
screenshots: install
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
