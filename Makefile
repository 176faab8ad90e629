# Agora — developer commands. `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
CARGO ?= cargo

# Test suites that need PostgreSQL/Redis use these (defaults: the local services).
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
export TEST_REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: run run-postgres test fmt fmt-check lint layers services schema-drift deny tests docs-check fuzz bench openapi migrate

## Start the server with no configuration: in-memory storage on 127.0.0.1:8080.
run:
	$(CARGO) run -p api-server -- serve

## Start against the local PostgreSQL and Redis (database `agora`, created if missing).
run-postgres:
	@psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='agora'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE agora"
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/agora} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379} \
	$(CARGO) run -p api-server -- serve

## Everything CI checks: formatting, lints, layering, then every test suite.
test: fmt-check lint layers services schema-drift deny tests docs-check fuzz

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Domain crates must not reach infrastructure (actix, diesel, redis).
layers:
	@scripts/check-layers.sh

## Say loudly when service-backed suites cannot run; with CI=true a missing service fails.
services:
	@scripts/check-services.sh

## crates/adapter-postgres/src/schema.rs equals `diesel print-schema` of a freshly migrated
## throwaway database (types and nullability included); needs diesel_cli (.ci/run installs it).
schema-drift:
	@scripts/check-schema-drift.sh

## cargo deny: advisories (the vendored snapshot in deny/advisory-db, offline), licences,
## bans, sources; needs cargo-deny (.ci/run installs it).
deny:
	@scripts/cargo-deny.sh

## The fault tests and the privacy tour print what they measured (recovery times, attack
## counts), so they run with their output shown.
tests:
	$(CARGO) test --workspace --all-targets -- --skip faults:: --skip privacy::
	$(CARGO) test -p agora-tests --test api -- faults:: privacy:: --nocapture

## Render /api/docs/ in headless Chromium with no network beyond localhost.
docs-check:
	@scripts/docs-render-check.sh

## schemathesis over every operation of the OpenAPI document, as a super admin and a
## student, in memory and on PostgreSQL + Redis (a Python venv under target/, reused).
fuzz:
	@scripts/schemathesis.sh

## Benchmarks (accounts, RBAC decisions, job queue, notification fan-out) on both storage modes (docs/benchmarks.md).
bench:
	$(CARGO) run --release -p agora-bench -- --mode both

openapi:
	@$(CARGO) run -q -p api-server -- openapi

migrate:
	$(CARGO) run -p api-server -- migrate
