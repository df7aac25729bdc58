# Two commands matter: `make run` and `make test`. Both create .venv when it is absent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck imports pytest openapi bench lock clean

$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## Start the service on http://127.0.0.1:8080 with embedded defaults (SQLite, no auth, sandbox on).
run: $(STAMP)
	OIH_ENVIRONMENT=development OIH_AUTH_MODE=disabled OIH_SANDBOX_ENABLED=true \
	OIH_CORS_ORIGINS=$${OIH_CORS_ORIGINS:-https://sandbox.cds-hooks.org,http://localhost:8080,http://127.0.0.1:8080} \
	$(BIN)/oih-cds serve --host 127.0.0.1 --port 8080

## The whole test suite: lint, types, import direction, then pytest.
test: $(STAMP) lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy service cds_hooks rules tests $(wildcard bench/*.py)

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

## Regenerate openapi/openapi.json from the app (a test fails when it drifts).
openapi: $(STAMP)
	$(BIN)/oih-cds openapi > openapi/openapi.json

## Benchmark: latency, throughput and the floor at three sizes (needs wrk; see bench/README.md).
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    apt-get install -y -qq --no-install-recommends wrk >/dev/null; } || \
	    { echo "make bench needs wrk: apt-get install -y wrk"; exit 2; }
	$(BIN)/python -m bench.run

## Re-pin dependencies (needs network access to PyPI).
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile --quiet --python-version 3.11 pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
