# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PORT ?= 8000
HOST ?= 127.0.0.1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
PY := .venv/bin/python
# `make test` runs against real PostgreSQL and Redis on their standard local ports.
TEST_DATABASE_URL ?= postgres://postgres:postgres@127.0.0.1:5432/leadforge
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install lock run test services lint format migrate demo bench clean

UV := PATH="$$HOME/.local/bin:$$PATH" uv

install:  ## Create .venv with the locked, hash-checked dependencies (this machine's Python 3.11)
	@# UV looks in ~/.local/bin too, where `pip install --user` puts uv, so a second run
	@# finds the uv the first one installed instead of installing it again.
	@$(UV) --version >/dev/null 2>&1 || PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --user uv || PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --break-system-packages uv
	@test -x $(PY) || $(UV) venv --quiet --python python3.11 .venv
	@$(UV) pip sync --quiet --compile-bytecode --python $(PY) --require-hashes requirements-dev.lock
	@echo "installed: $$($(PY) -c 'import django, sys; print("Python", sys.version.split()[0], "Django", django.get_version())')"

lock:  ## Re-resolve pyproject.toml into the two hash-pinned lock files
	@$(UV) lock --quiet
	@$(UV) export --quiet --frozen --format requirements-txt --no-dev --no-emit-project --no-header -o requirements.lock
	@$(UV) export --quiet --frozen --format requirements-txt --all-groups --no-emit-project --no-header -o requirements-dev.lock

migrate: install
	@$(PY) manage.py migrate --no-input -v0

# Development mode is asked for, never the default: written once, never overwritten, so the
# keys that encrypt stored credentials stay the same from one run to the next.
.env:
	@umask 077 && python3 -c 'import base64, os, secrets; \
	  print("# Written once by make run: development mode on this machine; keep it private."); \
	  print("DEBUG=true"); \
	  print("SECRET_KEY=" + secrets.token_urlsafe(50)); \
	  print("FIELD_ENCRYPTION_KEY=" + base64.urlsafe_b64encode(os.urandom(32)).decode())' > $@.tmp \
	  && mv $@.tmp $@ && echo "wrote $@ (DEBUG on, generated SECRET_KEY and FIELD_ENCRYPTION_KEY)"

demo: .env migrate  ## Demo admin, sandbox provider, sample leads
	@$(PY) manage.py setup_demo --port $(PORT)

run: .env demo  ## Web (daphne, ASGI) + Celery worker + beat on the embedded default
	@echo "Starting web on http://$(HOST):$(PORT), a Celery worker and beat (Ctrl-C stops all)"
	@# All three in the background, so a signal interrupts `wait` at once; the first to stop
	@# (or Ctrl-C, or a TERM) stops the others. The trap clears itself before it signals, so it
	@# runs once; what has not stopped 10 s later is killed (tasks are acknowledged late, so a
	@# killed worker's task runs again).
	@trap 'trap - EXIT INT TERM; kill $$(jobs -p) 2>/dev/null; \
	  for _ in $$(seq 20); do [ -z "$$(jobs -pr)" ] && break; sleep 0.5; done; \
	  kill -9 $$(jobs -pr) 2>/dev/null; wait' EXIT INT TERM; \
	  .venv/bin/celery -A config worker --loglevel INFO --concurrency 2 --without-gossip --without-mingle & \
	  .venv/bin/celery -A config beat --loglevel INFO & \
	  .venv/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application & \
	  wait -n

services:  ## Make sure PostgreSQL and Redis answer locally (installs them with apt if missing)
	@bash .ci/services

test: install services  ## The whole suite against real PostgreSQL and Redis
	@DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q $(PYTEST_ARGS)

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	@.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench: .env install services
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf var staticfiles .pytest_cache
