# Task runner. The two commands a newcomer needs: `make run` and `make test`.
BIN := .venv/bin
PYTEST := $(BIN)/python -m pytest
# Branch coverage ([tool.coverage] in pyproject.toml; docs/tests.md, "Coverage") of the
# unit layer, which `make test` measures: the run fails under these floors, the whole
# product's and the domain core's (services/domain), each a point under what was
# measured. The other layers run unmeasured (coverage doubles their time and the suite
# must stay under 25 minutes); `make coverage` measures the whole suite.
COVERAGE_FLOOR := 75
DOMAIN_COVERAGE_FLOOR := 96
SUITE := -m "unit or integration or e2e or faults"
# One data file wherever a measured subprocess starts (its own working directory too).
export COVERAGE_FILE := $(CURDIR)/.coverage

.PHONY: install run up down status demo test test-motor test-ferretdb coverage coverage-report lint typecheck docs reference unit integration e2e faults bench soak schemas lock

install:
	@scripts/bootstrap.sh

run: install            ## the whole system on embedded servers, until Ctrl-C
	$(BIN)/lmp-billing up

up: install             ## only the embedded servers, in the background
	$(BIN)/lmp-billing infra up

demo: install           ## play a month against the system `make run` started
	$(BIN)/lmp-billing demo

down:
	$(BIN)/lmp-billing infra down

status:
	$(BIN)/lmp-billing infra status

test: install           ## everything CI runs: checks, unit (coverage), integration/e2e/faults, motor, FerretDB (scripts/test.sh)
	@MAKE=$(MAKE) scripts/test.sh

test-motor: install     ## the store's contract and a report's life again on motor (the default is PyMongo's async client)
	MONGODB_DRIVER=motor $(PYTEST) -m "integration or e2e" tests/contract tests/e2e/test_report_life.py

# The store's contract and a report's whole life on FerretDB (SQLite backend), a second
# implementation of the wire protocol; built with go on first use (docs/ferretdb.md).
test-ferretdb: export LMP_TEST_DATABASE := ferretdb
test-ferretdb: install
	$(BIN)/python -m tooling.infra.ferretdb install
	$(PYTEST) -m "integration or e2e" tests/contract/test_store_contract.py \
		tests/e2e/test_report_life.py --durations=10

coverage: install       ## the suite under branch coverage, its report and floors (what `make test` measures)
	$(PYTEST) $(SUITE) --cov --cov-report=
	$(MAKE) --no-print-directory coverage-report

coverage-report:        ## the last measured run's report; fails under either floor
	@echo "coverage of the product (floor $(COVERAGE_FLOOR) %)"
	$(BIN)/coverage report --fail-under=$(COVERAGE_FLOOR)
	@echo "coverage of the domain core, services/domain (floor $(DOMAIN_COVERAGE_FLOOR) %)"
	$(BIN)/coverage report --include='services/domain/*' --no-skip-covered --fail-under=$(DOMAIN_COVERAGE_FLOOR)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy services schemas tooling tests

docs: install           ## the documentation site (mkdocs.yml, docs/), strict, into site/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

reference: install      ## docs/configuration-reference.md again, from services/settings.py
	$(BIN)/python -m services.settings_doc

unit: install
	$(PYTEST) -m unit

integration: install
	$(PYTEST) -m integration

e2e: install
	$(PYTEST) -m e2e

faults: install         ## the fault suite alone: kill -9, SIGTERM, restarts, poison
	$(PYTEST) -m faults -s

bench: install          ## every benchmark, one after the other (see README, Performance)
	$(BIN)/python -m benchmarks.bench_ingestion
	$(BIN)/python -m benchmarks.bench_actions
	$(BIN)/python -m benchmarks.bench_timer
	$(BIN)/python -m benchmarks.bench_api
	$(BIN)/python -m benchmarks.probe_database

soak: install           ## an hour at steady load, a processor killed every 10 min; not run by CI (ARGS="--minutes 4 --kill-every 1" for less)
	$(BIN)/python -m benchmarks.soak $(ARGS)

lock:                   ## pin every dependency anew (requirements/*.lock) from the pyprojects
	$(BIN)/uv pip compile pyproject.toml tooling/pyproject.toml --extra dev --universal -p 3.11 --generate-hashes -q -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml --universal -p 3.11 --generate-hashes -q -o requirements/prod.lock
	$(BIN)/uv pip compile requirements/codegen.in --universal -p 3.11 --generate-hashes -q -o requirements/codegen.lock

schemas: install
	$(BIN)/lmp-billing schemas export schemas/json
