# Developer entry points of the platform. `make` (or `make help`) lists the targets.
# Prerequisites: PostgreSQL and RabbitMQ running locally (`make check-servers` says how to start them).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# uv, and the tools `uv tool install` puts in ~/.local/bin (localstripe).
export PATH := $(HOME)/.local/bin:$(PATH)
# `python3 -m uv` still works when pip put uv somewhere not on PATH.
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen --all-packages
COMPOSE ?= docker compose

SERVICES := identity billing market_data booking content
PLATFORM_ADMIN_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
PLATFORM_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
PLATFORM_DATABASE ?= platform
LOCALSTRIPE_PYTHON ?= 3.11
PYTEST_ARGS ?=
export PLATFORM_ADMIN_DATABASE_URL PLATFORM_AMQP_URL

# Local overrides (see .env.example): plain KEY=value lines, exported to every recipe.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*=.*/\1/p' .env)
endif

.PHONY: help install tools check-servers db-init migrate dev test lint bench up down replay-dead-letters

help: ## list the targets
	@echo "usage: make <target>"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(firstword $(MAKEFILE_LIST)) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  %-20s %s\n", $$1, $$2}'

install: ## install uv if missing, all workspace packages (uv sync) and localstripe
	@if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then \
		echo "uv not found: installing it with pip"; \
		python3 -m pip install --user uv || python3 -m pip install uv; \
	fi
	$(UV) sync --all-packages --frozen
	$(UV) tool install --python $(LOCALSTRIPE_PYTHON) localstripe

tools: # localstripe (a uv tool: its pins clash with the workspace) unless already installed
	@command -v localstripe >/dev/null 2>&1 || $(UV) tool install --python $(LOCALSTRIPE_PYTHON) localstripe

check-servers: ## is PostgreSQL and RabbitMQ reachable? (prints how to start them if not)
	@python3 scripts/check_servers.py

db-init: check-servers ## create the database, the five roles and schemas (idempotent)
	$(RUN) python -m lib_database.provision --admin-url '$(PLATFORM_ADMIN_DATABASE_URL)' \
		--database $(PLATFORM_DATABASE) deploy/postgres/init.sql

migrate: db-init ## alembic upgrade head for every service
	@for svc in $(SERVICES); do \
		echo "== migrate $$svc"; \
		$(RUN) alembic -c services/$$svc/alembic.ini upgrade head; \
	done

dev: install migrate ## run the five APIs and five workers under honcho (Ctrl-C stops all)
	$(RUN) honcho start -f deploy/Procfile.dev -d .

test: tools ## run every test (PYTEST_ARGS="-k x -x" to pass options)
	$(RUN) pytest $(PYTEST_ARGS)

lint: ## ruff check, ruff format --check, mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/*/src services/*/src

bench: ## run the benchmarks in bench/
	$(RUN) python bench/run.py

up: ## build and run the whole platform in Docker (docker compose up --build)
	$(COMPOSE) up --build

down: ## stop and remove the Docker containers (volumes are kept)
	$(COMPOSE) down

replay-dead-letters: ## move dead letters back: make replay-dead-letters SERVICE=booking [GROUP=main]
	@test -n "$(SERVICE)" || { echo "set SERVICE=<one of: $(SERVICES)>"; exit 2; }
	$(RUN) $(SERVICE)-worker replay-dead-letters --group $(or $(GROUP),main)
