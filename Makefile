# fieldcrew: `make run` starts everything, `make test` runs every test. Both install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin

.PHONY: install run demo test check unit fmt bench bench-quick chaos clean browser-tools asyncapi

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Locked install of every service, the CLI and the dev tools (uv.lock is in git).
# --inexact keeps uv itself, which lives in the same virtualenv.
install: $(UV)
	$(UV) sync --quiet --frozen --all-packages --inexact

## Start the real servers (NATS JetStream, PostgreSQL, S3) and all services, supervised.
## NATS_NODES=3: a local 3-node NATS cluster, the stream on 3 replicas.
NATS_NODES ?= 1
run: install
	$(BIN)/fieldcrew run --nats-nodes $(NATS_NODES)

## While `make run` is up: play a whole crew flow through the gateway.
demo: install
	$(BIN)/fieldcrew demo

## Debian's Chromium (the console's browser tests drive it with Playwright) and poppler-utils
## (pdftoppm draws the customer PDF): installed with apt when missing, as root (CI is).
browser-tools:
	@command -v chromium >/dev/null && command -v pdftoppm >/dev/null || { \
	  echo "installing Debian's chromium and poppler-utils with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium poppler-utils >/dev/null; }

## Lint, types, then every test tier against real servers the session starts itself.
test: check browser-tools
	$(BIN)/python -m pytest -n 2 --dist loadfile

unit: install
	$(BIN)/python -m pytest tests/unit

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared/fieldcrew_shared cli/fieldcrew_cli services/*/fieldcrew_* examples

## Benchmarks (bench/README.md): fresh real servers, every figure of issue 4, a table on
## stdout and bench/results/<name>.json. Not part of `make test`.
bench: install
	$(BIN)/python -m bench

## The small version of the benchmarks (under 2 minutes on a quiet machine).
bench-quick: install
	$(BIN)/python -m bench --quick

## The event contract, docs/asyncapi.json, generated again from the catalogue.
asyncapi: install
	$(BIN)/fieldcrew asyncapi

## The fault suite in full (tests/faults/README.md): every scenario over servers and services
## of its own, processes killed, paused and stopped for real; a table on stdout and
## tests/faults/results/<time>-full.json. `make test` runs its CI size.
chaos: install
	$(BIN)/python -m tests.faults

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
