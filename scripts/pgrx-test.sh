#!/usr/bin/env bash
# The #[pg_test] tier: `cargo pgrx test` of the extension package, inside a PostgreSQL that
# pgrx starts itself. initdb refuses root, so as root the test server runs as the `postgres`
# OS user (--runas) in a directory that user owns (--pgdata; pgrx puts a per-run PGDATA and
# the unix socket in it).
#
# Note: this installs the pg_test-featured build into the system PostgreSQL. `make test`
# reinstalls the normal build afterwards (make install-debug) before the regress and cluster
# tiers.
#
#   scripts/pgrx-test.sh [TESTNAME]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="$(pak_run_dir)/pgrx-test"
make_cluster_owned_dir "$dir"
runas=()
if [[ "$(cluster_os_user)" != "$(id -un)" ]]; then
    runas=(--runas "$(cluster_os_user)")
fi
cd "$REPO_ROOT"
say "cargo pgrx test pg${PG_MAJOR} ${runas[*]} --pgdata $dir $*"
exec cargo pgrx test "pg${PG_MAJOR}" "${runas[@]}" --pgdata "$dir" "$@"
