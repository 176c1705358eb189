# Two commands on a fresh machine: `make run` and `make test`. Only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_VEHICLES ?= 3000
PYTEST_ARGS ?=
# The thousands-of-cars runs, the wheel's install and the other long whole-system runs (marker
# long) take minutes: CI runs them
# (PYTEST_MARKERS= runs everything).
PYTEST_MARKERS ?= not fleet and not package and not long
# Test processes: one per core (pytest-xdist).
PYTEST_WORKERS ?= auto

.PHONY: run test install lint format migrations-check bench bench-fleet ci clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/.installed

## Server with a demo fleet on the embedded defaults (SQLite, ORM broker, local files).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ota_init
	$(BIN)/python manage.py sync_schedules
	$(BIN)/python manage.py seed_demo --vehicles $(DEMO_VEHICLES) --port $(PORT)
	$(BIN)/python manage.py serve --port $(PORT)

## The test suite (SQLite unless DATABASE_URL names PostgreSQL).
test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "$(PYTEST_MARKERS)" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

## Benchmarks: ratios against a trivial baseline, measured in one run (see bench/).
## bench.poll and bench.poll_history drive gunicorn with Debian's wrk (apt-get install wrk).
bench: install
	$(BIN)/python -m bench.poll
	$(BIN)/python -m bench.poll_history
	$(BIN)/python -m bench.evaluation
	$(BIN)/python -m bench.hashing
	$(BIN)/python -m bench.deltas

## The fleet at scale (bench/fleet.py): PostgreSQL only (BENCH_DATABASE_URL=postgres://…),
## minutes of loading, so not part of `make bench`. BENCH_FLEET_CARS=1000000 for the million.
BENCH_FLEET_CARS ?= 100000
bench-fleet: install
	$(BIN)/python -m bench.fleet --cars $(BENCH_FLEET_CARS)
	$(BIN)/python -m bench.fleet_pages --cars $(BENCH_FLEET_CARS)

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
