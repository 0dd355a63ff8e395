# The README's two commands: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export COMPTOIR_DATA_DIR ?= $(CURDIR)/var
PYTEST_WORKERS ?= 2
DEMO_PORT ?= 8000

.PHONY: demo test test-sqlite test-postgres lint audit venv bench clean constraints screenshots

venv: $(VENV)/.installed

# The runtime dependencies at the versions in constraints.txt (the tested ones), the demo's
# mail servers (the `demo` extra) and the dev tools.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,demo,s3]"
	touch $@

# After changing a dependency in pyproject.toml and passing the tests: pin what is installed.
constraints: venv
	$(BIN)/python deploy/freeze.py > constraints.txt

demo: venv
	$(BIN)/comptoir migrate --noinput -v0
	$(BIN)/comptoir demo --seed 42 --if-empty --serve --port $(DEMO_PORT)

# Every page in English and French, at 1,440 px and 390 px, from a demo of its own
# (var/screenshots, on a free port), into docs/screenshots/ (deploy/screenshots.py).
screenshots: venv
	$(BIN)/python deploy/screenshots.py

# Both passes run even when the first fails (make would stop at it and skip PostgreSQL without a
# word); the target fails when either did.
test: venv
	@status=0; \
	$(MAKE) --no-print-directory test-sqlite || status=1; \
	$(MAKE) --no-print-directory test-postgres || status=1; \
	if [ $$status -ne 0 ]; then echo "== make test: a pass failed (see above)"; fi; \
	exit $$status

test-sqlite: venv
	COMPTOIR_DATA_DIR=$(CURDIR)/var/test DATABASE_URL= $(BIN)/pytest -n $(PYTEST_WORKERS) -q

# Runs only when COMPTOIR_TEST_DATABASE_URL is set (CI sets it and requires the server).
test-postgres: venv
	@if [ -n "$$COMPTOIR_TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL"; \
		COMPTOIR_DATA_DIR=$(CURDIR)/var/test-pg DATABASE_URL=$$COMPTOIR_TEST_DATABASE_URL \
			$(BIN)/pytest -n $(PYTEST_WORKERS) -q; \
	else echo "== PostgreSQL run skipped: COMPTOIR_TEST_DATABASE_URL is not set"; fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# constraints.txt against known vulnerabilities (deploy/audit.py): fails on one found; packages
# the vulnerability service cannot answer for are listed as not checked, and do not fail.
audit: venv
	$(BIN)/python deploy/audit.py constraints.txt

bench: venv
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/email_ingest.py
	$(BIN)/python bench/marketplace_sync.py
	$(BIN)/python bench/marketplace_requests.py
	$(BIN)/python bench/email_big.py
	$(BIN)/python bench/threading_order.py
	$(BIN)/python bench/sla_sweep.py
	$(BIN)/python bench/rules_pump.py
	$(BIN)/python bench/inbox_http.py

clean:
	rm -rf $(VENV) var
