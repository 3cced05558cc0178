# wenulake: every command the README shows is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# The venv is up to date when it is newer than the lock file and pyproject.toml.
STAMP := $(VENV)/.installed

export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: help venv chromium serve bench-catalog checkov-venv checkov package cluster cluster-stop run test test-fast fuzz lint format typecheck airflow bench bench-gaps bench-maintenance bench-alarms lock clean clean-home

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv from requirements.lock (done by every target that needs it)

# Browser tests drive Debian's chromium through Playwright's Python package (`playwright install` would download
# a browser build, which cannot work here).
chromium: ## Install Debian's chromium for the browser tests when it is missing (done by make test)
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000
serve: $(STAMP) ## Serve the catalog API and backoffice on http://127.0.0.1:8000 (create a user first: wenulake users add)
	$(BIN)/wenulake serve --host $(SERVE_HOST) --port $(SERVE_PORT)

# checkov pins boto3/packaging/termcolor older than requirements.lock allows: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): infra/checkov.lock $(STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip install --python $(CHECKOV_VENV)/bin/python --quiet -r infra/checkov.lock
	@touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP) ## Create .venv-checkov from infra/checkov.lock (done by make test)

checkov: $(CHECKOV_STAMP) ## Scan infra/terraform (and its local modules) with checkov
	$(CHECKOV_VENV)/bin/checkov --directory infra/terraform --framework terraform --download-external-modules false --skip-download --compact --quiet

# The sample of `make run`: messages from SAMPLE_START for SAMPLE_HOURS hours; late copies arrive up to 3 h later.
SAMPLE_START ?= 2026-04-04T00:00:00Z
SAMPLE_HOURS ?= 6
SAMPLE_DEVICES ?= 60
SAMPLE_END ?= 2026-04-04T09:00:00Z
export WENULAKE_HOME ?= $(CURDIR)/.wenulake

# The orders that alarms open arrive now (the wall-clock arrival hour, as Firehose would deliver them): the
# workorders run also covers the hours since `make run` started, so they reach the work-order tables.
run: $(STAMP) ## Generate a sample landing in .wenulake, run the sensors (+ alarms) and workorders DAGs over it; prints where every record went
	@mkdir -p "$(WENULAKE_HOME)" && date -u +%Y-%m-%dT%H:00:00Z > "$(WENULAKE_HOME)/.run-started"
	$(BIN)/wenulake landing generate --out "$(WENULAKE_HOME)" --start $(SAMPLE_START) --hours $(SAMPLE_HOURS) --devices $(SAMPLE_DEVICES)
	$(BIN)/wenulake landing generate-workorders --out "$(WENULAKE_HOME)" --start $(SAMPLE_START) --hours $(SAMPLE_HOURS)
	$(BIN)/wenulake catalog load "$(WENULAKE_HOME)/catalog"
	$(BIN)/wenulake run sensors --start $(SAMPLE_START) --end $(SAMPLE_END)
	$(BIN)/wenulake run workorders --start $(SAMPLE_START) --end $(SAMPLE_END)
	$(BIN)/wenulake run workorders --start "$$(cat "$(WENULAKE_HOME)/.run-started")" --end "$$(date -u -d '+1 hour' +%Y-%m-%dT%H:00:00Z)"
	@rm -f "$(WENULAKE_HOME)/.run-started"
	@echo "Explore: $(BIN)/wenulake sql \"select metric, unit, count(*), avg(value) from silver.reading group by all\""

test: $(STAMP) $(CHECKOV_STAMP) chromium ## Run the whole test suite (unit, Spark, Airflow, Delta, PostgreSQL, S3 server, lint, Terraform/checkov)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) $(CHECKOV_STAMP) chromium ## Run the tests that need neither Spark nor Airflow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Fuzzing (atheris): the record parsers of the sensor landing, the work-order landing, legacy CSV files and the
# catalog CSV import.
# `make test` runs each target for 10 s (FUZZ_SECONDS=N changes it, 0 skips); this runs them longer, one after
# the other, and keeps each corpus in FUZZ_WORK so a later run starts where this one stopped.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= sensors workorders legacy catalog
FUZZ_WORK ?= $(WENULAKE_HOME)/fuzz
fuzz: $(STAMP) ## Fuzz the sensor, work-order, legacy CSV and catalog CSV parsers for FUZZ_SECONDS each (crashes in FUZZ_WORK)
	@for target in $(FUZZ_TARGETS); do \
		$(BIN)/python -m tests.fuzz.run $$target --seconds $(FUZZ_SECONDS) --work "$(FUZZ_WORK)/$$target" || exit 1; \
	done

lint: $(STAMP) ## ruff, mypy on wenulake/, sqlfluff on sql/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/sqlfluff lint sql

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# airflow standalone runs in a process group of its own (setsid): Ctrl-C (or make being stopped) ends the whole
# group, the scheduler, api-server, dag-processor, triggerer and the task processes with their Spark JVMs.
airflow: $(STAMP) ## Serve the Airflow UI on http://127.0.0.1:8080 (loopback only) with these DAGs; Ctrl-C stops all of it
	$(BIN)/python -m wenulake.airflow_home --print-login
	@source <($(BIN)/python -m wenulake.airflow_home --exports) && export PATH="$(abspath $(BIN)):$$PATH" && \
	setsid $(BIN)/airflow standalone & pid=$$!; \
	stop() { trap - INT TERM EXIT; echo "stopping Airflow (process group $$pid)"; \
		kill -TERM -- -$$pid 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -$$pid 2>/dev/null || break; sleep 1; done; \
		kill -KILL -- -$$pid 2>/dev/null; wait $$pid 2>/dev/null; true; }; \
	trap stop INT TERM EXIT; wait $$pid

# Cluster mode: the package archive executors import, and a standalone cluster on this machine.
PACKAGE := dist/wenulake-$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml).zip
CLUSTER_PORT ?= 7077
CLUSTER_WEBUI_PORT ?= 8090
CLUSTER_WORKER_WEBUI_PORT ?= 8091
CLUSTER_CORES ?= 2
CLUSTER_MEMORY ?= 2g

$(PACKAGE): $(STAMP) $(shell find wenulake -name '*.py' -o -name py.typed)
	$(BIN)/python -m wenulake.cluster package --out $(PACKAGE)

package: $(PACKAGE) ## Build dist/wenulake-<version>.zip, the package cluster mode ships to executors

cluster: $(STAMP) $(PACKAGE) ## Start a standalone Spark master + one worker on 127.0.0.1 and print the settings that use it
	$(BIN)/python -m wenulake.cluster start --port $(CLUSTER_PORT) --webui-port $(CLUSTER_WEBUI_PORT) --worker-webui-port $(CLUSTER_WORKER_WEBUI_PORT) --cores $(CLUSTER_CORES) --memory $(CLUSTER_MEMORY)

cluster-stop: $(STAMP) ## Stop the master and worker `make cluster` started (by the pids in $WENULAKE_HOME/cluster)
	$(BIN)/python -m wenulake.cluster stop

BENCH_SIZES ?= S,M
# the whole `wenulake run sensors` command, cold, in a fresh home: DEVICESxHOURS datasets (bench/command.py)
BENCH_COMMAND ?= 300x48
bench: $(STAMP) ## Benchmark the pipeline against the hand-written reference (BENCH_SIZES=S,M,L); writes bench/results/
	$(BIN)/python bench/run.py --sizes $(BENCH_SIZES)
	$(BIN)/python bench/command.py --datasets $(BENCH_COMMAND)
	$(BIN)/python bench/migration.py

bench-gaps: $(STAMP) ## False gap alarms per device-month at 5-60 min cadences with jitter, real silences found (bench/gap_quality.py)
	$(BIN)/python bench/gap_quality.py

bench-maintenance: $(STAMP) ## 100 hourly runs' lake writes, then maintenance, against one run over the same hours (bench/maintenance.py)
	$(BIN)/python bench/maintenance.py

bench-alarms: $(STAMP) ## The anomaly rule on 30 NAB series through the pipeline: NAB score, hit rate, false alarms, delay (bench/nab.py); writes bench/results/nab-*.json and docs/nab-example.png
	$(BIN)/python bench/nab.py --plot docs/nab-example.png

bench-catalog: $(STAMP) ## Latency of the catalog service's list endpoints with 100k sensors in PostgreSQL (bench/catalog_api.py)
	$(BIN)/python bench/catalog_api.py

lock: ## Recompile requirements.lock from requirements.in (needs network)
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(BIN)/uv pip compile requirements.in --universal --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile infra/checkov.in --python-version 3.11 -o infra/checkov.lock

clean-home: ## Delete the local home (.wenulake: lake, catalog, Airflow state)
	rm -rf .wenulake

clean: clean-home ## Delete the venv and the local home
	rm -rf $(VENV) $(CHECKOV_VENV)
