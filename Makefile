# jobsite — the two commands: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
# Keep compiled bytecode even where the environment turns it off: every test process
# compiles the whole tree and the tests otherwise (about 2 s of CPU each).
export PYTHONDONTWRITEBYTECODE :=
PY := $(VENV)/bin/python
DATA := data

# Django 6 needs Python 3.12+. Take python3.13 or python3.12 from PATH (checking that it
# really runs: a pyenv shim may exist without the version being active), then from
# pyenv's own versions directory.
FIND_PYTHON = for c in python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null) $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null) /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/bin/python3.13 /usr/bin/python3.12; do \
	if "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then command -v "$$c" || echo "$$c"; exit 0; fi; done; exit 1

.PHONY: help run test test-slow test-postgres test-e2e test-chaos test-fuzz test-multihost lint bench venv lock clean

help:
	@echo "make run    - install, migrate, load the demo and serve http://127.0.0.1:8000"
	@echo "make test   - run the test suite (creates the virtualenv if needed)"
	@echo "make test-slow | test-postgres | test-e2e | test-chaos | test-fuzz | test-multihost | lint | bench"
	@echo "make lock   - regenerate requirements.lock after changing pyproject.toml's dependencies"

$(PY):
	@PYTHON=$$($(FIND_PYTHON)) || { echo "error: jobsite needs Python 3.12 or 3.13 (Django 6.1); none found on PATH or in ~/.pyenv/versions. Install one and retry." >&2; exit 1; }; \
	echo "creating $(VENV) with $$PYTHON ($$($$PYTHON --version))"; \
	$$PYTHON -m venv $(VENV)

# Every version comes from the lock file (a constraints file: each target installs only
# the extras it needs, at the locked versions). `make lock` regenerates it.
LOCK := requirements.lock
INSTALL := $(PY) -m pip install --quiet -c $(LOCK) -e
# More extras for `make venv`: EXTRAS=postgres,redis (the PostgreSQL and Redis clients).
EXTRAS :=

$(VENV)/.installed: pyproject.toml $(LOCK) | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(INSTALL) '.[test]'
	@touch $@

venv: $(VENV)/.installed
ifneq ($(EXTRAS),)
	$(INSTALL) '.[test,$(EXTRAS)]'
endif

lock: | $(PY)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.12 -o $(LOCK)

$(DATA)/secret_key:
	@mkdir -p $(DATA)
	@$(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	@chmod 600 $@

# The key that encrypts secrets at rest (docs/security.md); settings read it from here.
$(DATA)/encryption_key: | venv
	@mkdir -p $(DATA)
	@$(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > $@
	@chmod 600 $@

# The demo's host-report template checks this server's own /healthz: the egress policy
# refuses loopback unless allowed, so the demo allows exactly this address and port.
run: venv $(DATA)/secret_key $(DATA)/encryption_key
	@export SECRET_KEY="$${SECRET_KEY:-$$(cat $(DATA)/secret_key)}"; \
	export JOBSITE_BIND="$${JOBSITE_BIND:-127.0.0.1:$${PORT:-8000}}"; \
	export JOBSITE_EGRESS_ALLOW="$${JOBSITE_EGRESS_ALLOW-$$JOBSITE_BIND}"; \
	$(PY) manage.py migrate --noinput -v 0 && \
	$(PY) manage.py demo && \
	exec $(PY) manage.py serve

# Two processes: each gets its own SQLite test database, its tables made from the models
# (--no-migrations; tests/test_migrations.py checks that the migrations describe them, and
# every other suite runs the migrations). Real worker processes, subprocess and long tests
# are in test-slow; docs/architecture.md (Tests) says which suite has what.
test: venv
	$(PY) -m pytest -q -n 2 --no-migrations

# Real worker processes and every other test that starts a Django process (check --deploy,
# a second web process), the inputs that cost the reader seconds, and the properties at
# length (hundreds of examples where make test tries a few).
test-slow: venv
	$(INSTALL) '.[test,postgres,redis]'
	$(PY) -m pytest -q -m slow

# The whole suite again on PostgreSQL + the Redis broker, plus the tests that need them.
test-postgres: venv
	$(INSTALL) '.[test,postgres,redis]'
	@export JOBSITE_TEST_DATABASE_URL=$${JOBSITE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}; \
	export JOBSITE_TEST_REDIS_URL=$${JOBSITE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}; \
	DATABASE_URL=$$JOBSITE_TEST_DATABASE_URL JOBSITE_BROKER=redis REDIS_URL=$$JOBSITE_TEST_REDIS_URL \
	JOBSITE_QUEUE_NAME=jobsite-test-$$$$ $(PY) -m pytest -q -m "not e2e and not chaos and not fuzz" $(SAME_ON_ANY_DATABASE)

# Slow tests that touch no database and no broker worth a second run (test-slow runs them):
# left out of test-postgres to keep CI under 45 minutes.
SAME_ON_ANY_DATABASE := \
	--deselect tests/executors/test_shell.py::test_output_read_in_any_chunks_is_logged_as_if_read_line_by_line_150_ways \
	--deselect tests/templates_app/test_substitute.py::test_a_whole_value_reference_returns_any_of_500_json_values_unchanged \
	--deselect tests/api/test_upload_memory.py::test_a_200_mb_upload_keeps_the_server_under_150_mb \
	--deselect tests/containment_policy/test_sandbox_off_is_loud.py::test_a_required_sandbox_that_does_not_work_stops_the_step_runners_at_start_with_one_line

# Browser tests: Playwright for Python driving Debian's Chromium (no browser download).
CHROMIUM := /usr/lib/chromium/chromium
test-e2e: venv
	$(INSTALL) '.[test,e2e]'
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium"; apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }
	$(PY) -m pytest -q -m e2e

test-chaos: venv
	$(INSTALL) '.[test,postgres,redis]'
	$(PY) -m pytest -q -s -m chaos

# Worker hosts in network namespaces (root: ip netns, veth pairs; socat relays to the
# PostgreSQL and Redis on 127.0.0.1): partitions and kill -9 of a host (docs/engine.md).
# JOBSITE_MULTIHOST_JOBS=300 for the full run.
test-multihost: venv
	$(INSTALL) '.[test,postgres,redis]'
	@command -v socat >/dev/null || { echo "installing socat (the harness's relays)"; apt-get update -qq && apt-get install -y -qq --no-install-recommends socat; }
	@export JOBSITE_TEST_DATABASE_URL=$${JOBSITE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}; \
	$(PY) -m pytest -q -s -m multihost

test-fuzz: venv
	$(INSTALL) '.[test,fuzz]'
	$(PY) -m pytest -q -s -m fuzz

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The benchmarks' quick versions (small N, a few minutes): ratios against the raw stack,
# measured side by side (docs/benchmarks.md). The PostgreSQL ones use 127.0.0.1:5432 and
# Redis 127.0.0.1:6379 (JOBSITE_BENCH_POSTGRES_URL / JOBSITE_BENCH_REDIS_URL override).
bench: venv
	$(INSTALL) '.[test,postgres,redis]'
	@command -v wrk >/dev/null || { echo "installing wrk (bench/api_load.py)"; apt-get update -qq && apt-get install -y -qq wrk; }
	$(PY) bench/throughput.py --quick
	$(PY) bench/latency.py --quick
	$(PY) bench/api_load.py --quick
	$(PY) bench/scale.py --quick
	$(PY) bench/logs.py --quick
	$(PY) bench/sandbox.py --rounds 50

clean:
	rm -rf $(VENV) .pytest_cache
