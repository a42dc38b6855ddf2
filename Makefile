# pg_auth_keys — build, demo and tests. `make help` lists the targets.
#
# Two commands matter:  make demo   and   make test   (see README.md, "Quick start").
# Every target first runs `setup`, which is idempotent and quick once done.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# The test tiers must run in the order given (test-pg installs a test build that
# install-debug then replaces), so never run prerequisites in parallel.
.NOTPARALLEL:

PG_MAJOR ?= 15
PG_CONFIG ?= /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config
CARGO ?= cargo
export PG_MAJOR PG_CONFIG

# Where throwaway clusters live (build/, or /tmp/pg_auth_keys-<hash> when the postgres OS user
# cannot reach build/); exported so the scripts and the Rust cluster tests agree.
ifeq ($(origin PAK_RUN_DIR),undefined)
PAK_RUN_DIR := $(shell bash -c 'source scripts/lib.sh && pak_run_dir')
endif
export PAK_RUN_DIR
# Python with the interop-test packages (installed by setup).
PYTHON := $(CURDIR)/build/venv/bin/python

# Installing into the system PostgreSQL needs root.
PGRX_SUDO := $(if $(filter 0,$(shell id -u)),,--sudo)
PGRX_INSTALL := $(CARGO) pgrx install --pg-config $(PG_CONFIG) $(PGRX_SUDO)
# Install scripts of earlier releases (sql/archive/), so that CREATE EXTENSION ... VERSION can
# make an old version and ALTER EXTENSION ... UPDATE can be tested from it.
INSTALL_ARCHIVE := $(if $(filter 0,$(shell id -u)),,sudo) install -m 0644 sql/archive/*.sql \
    "$$($(PG_CONFIG) --sharedir)/extension/"

DEMO_ENV := CLUSTER_NAME=demo-cluster CLUSTER_PORT=$${DEMO_PORT:-54329}

.PHONY: help setup build install install-debug demo stop bench \
        test lint test-unit test-pg test-regress test-cluster test-fuzz fuzz

help:
	@echo "make demo          set up, install (release), start a demo cluster, run demo/demo.sql"
	@echo "make stop          stop the demo cluster"
	@echo "make bench         install (release), run the benchmark (bench/run.sh; never a test)"
	@echo "make test          every test tier, as CI runs it (.ci/run)"
	@echo "  make lint          cargo fmt --check, cargo clippy -D warnings"
	@echo "  make test-unit     cargo test of the JOSE core (no PostgreSQL)"
	@echo "  make test-pg       #[pg_test]s inside PostgreSQL (cargo pgrx test)"
	@echo "  make test-regress  golden SQL files in tests/pg_regress (pg_regress)"
	@echo "  make test-cluster  sessions, restarts, crashes, replicas (tests/cluster)"
	@echo "  make test-fuzz     a few seconds of each fuzz target from the checked-in corpus"
	@echo "make fuzz          each fuzz target for FUZZ_SECONDS (60) s (scripts/fuzz.sh, fuzz/README.md)"
	@echo "make setup         install the toolchain and system packages (idempotent)"
	@echo "make build         cargo build of the workspace"
	@echo "make install       install the release build into the system PostgreSQL"
	@echo "make install-debug install the debug build (what the tests use)"

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --workspace

install: setup
	$(PGRX_INSTALL) --release
	$(INSTALL_ARCHIVE)

install-debug: setup
	$(PGRX_INSTALL)
	$(INSTALL_ARCHIVE)

# ---- demo ----------------------------------------------------------------------------------

demo: install
	@# Restart so that the server loads the library just installed.
	@$(DEMO_ENV) scripts/cluster.sh stop
	@$(DEMO_ENV) scripts/cluster.sh start
	@$(DEMO_ENV) scripts/cluster.sh psql -X -q -v ON_ERROR_STOP=1 -d postgres \
	    -c 'SET client_min_messages = warning' \
	    -c 'DROP DATABASE IF EXISTS demo WITH (FORCE)' -c 'CREATE DATABASE demo'
	@$(DEMO_ENV) scripts/cluster.sh psql -X -v ON_ERROR_STOP=1 -d demo -f demo/demo.sql
	@eval "$$($(DEMO_ENV) scripts/cluster.sh env)"; \
	    echo; \
	    echo "The demo cluster is running. Connect with:"; \
	    echo "    psql -h $$PGHOST -p $$PGPORT -U postgres demo"; \
	    echo "Stop it with:"; \
	    echo "    make stop"

stop:
	@$(DEMO_ENV) scripts/cluster.sh stop
	@CLUSTER_NAME=regress-cluster scripts/cluster.sh stop

# ---- benchmark -------------------------------------------------------------------------------

# Ratios against baselines measured in the same run; prints a table and writes
# build/bench/results.md. A measurement, not a test: a missed goal never fails it.
bench: install
	@bench/run.sh

# ---- tests ---------------------------------------------------------------------------------

# The order matters: test-pg installs the pg_test build into the system PostgreSQL, and
# install-debug replaces it with the normal build that test-regress and test-cluster use.
# The last lines printed are cargo test's summaries (CI reads them).
test: setup lint test-unit test-fuzz test-pg install-debug test-regress test-cluster

lint: setup
	bash -n scripts/*.sh bench/*.sh .ci/run
	$(CARGO) fmt --all --check
	cd fuzz && $(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-unit: setup
	$(CARGO) test -p pg_auth_keys_jose

test-pg: setup
	scripts/pgrx-test.sh

test-regress: setup install-debug
	scripts/regress.sh

test-cluster: setup install-debug
	$(CARGO) test -p pg_auth_keys_cluster_tests --tests -- --test-threads=2

# cargo-fuzz targets of the JOSE core (fuzz/, its own workspace); no PostgreSQL needed.
test-fuzz: setup
	scripts/fuzz.sh --smoke

fuzz: setup
	scripts/fuzz.sh
