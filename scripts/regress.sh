#!/usr/bin/env bash
# Golden-file SQL tests: run tests/pg_regress/sql/*.sql with the system pg_regress against a
# fresh throwaway cluster (scripts/cluster.sh, CLUSTER_NAME=regress-cluster) and compare the
# output with tests/pg_regress/expected/*.out.
#
#   scripts/regress.sh            # run every test listed in tests/pg_regress/schedule
#   scripts/regress.sh --accept   # after a run: copy results/*.out of failed or new tests
#                                 # into expected/ (review the git diff before committing!)
#
# Tests run in the order of the schedule file, all in one database (pg_auth_keys_regress),
# so `setup` (CREATE EXTENSION) comes first. Every sql/*.sql must be listed in the schedule,
# and every scheduled test needs its sql file; the run refuses otherwise.
# The extension must already be installed in the system PostgreSQL (make install-debug).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REGRESS_DIR="$REPO_ROOT/tests/pg_regress"
SCHEDULE="$REGRESS_DIR/schedule"
export CLUSTER_NAME="${CLUSTER_NAME:-regress-cluster}"
export CLUSTER_PORT="${CLUSTER_PORT:-54330}"
PG_REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"

# Tests named in the schedule, in order ("test: a b c" lines; several names = parallel group).
scheduled_tests() {
    sed -n 's/^[[:space:]]*test:[[:space:]]*//p' "$SCHEDULE" | tr -s ' \t' '\n' | sed '/^$/d'
}

check_schedule() {
    [[ -f "$SCHEDULE" ]] || die "missing $SCHEDULE"
    local bad=0 f t
    for f in "$REGRESS_DIR"/sql/*.sql; do
        t="$(basename "$f" .sql)"
        if ! scheduled_tests | grep -qxF "$t"; then
            printf 'error: tests/pg_regress/sql/%s.sql is not listed in tests/pg_regress/schedule\n' "$t" >&2
            bad=1
        fi
    done
    while read -r t; do
        if [[ ! -f "$REGRESS_DIR/sql/$t.sql" ]]; then
            printf 'error: schedule lists "%s" but tests/pg_regress/sql/%s.sql does not exist\n' "$t" "$t" >&2
            bad=1
        fi
    done < <(scheduled_tests)
    if [[ "$(scheduled_tests | sort | uniq -d)" != "" ]]; then
        printf 'error: the schedule lists a test twice: %s\n' "$(scheduled_tests | sort | uniq -d | tr '\n' ' ')" >&2
        bad=1
    fi
    ((bad == 0)) || die "fix tests/pg_regress/schedule"
}

accept() {
    local t n=0
    [[ -d "$REGRESS_DIR/results" ]] || die "no results yet: run scripts/regress.sh first"
    while read -r t; do
        local res="$REGRESS_DIR/results/$t.out" exp="$REGRESS_DIR/expected/$t.out"
        if [[ -f "$res" ]] && ! cmp -s "$res" "$exp"; then
            cp "$res" "$exp"
            echo "accepted: tests/pg_regress/expected/$t.out"
            n=$((n + 1))
        fi
    done < <(scheduled_tests)
    echo "$n file(s) updated; review them with: git diff -- tests/pg_regress/expected"
}

run() {
    check_schedule
    [[ -x "$PG_REGRESS" ]] || die "$PG_REGRESS not found (postgresql-server-dev-$PG_MAJOR; run make setup)"
    # A fresh cluster every run: no state leaks from an earlier run or from the demo.
    "$REPO_ROOT/scripts/cluster.sh" destroy
    "$REPO_ROOT/scripts/cluster.sh" start
    eval "$("$REPO_ROOT/scripts/cluster.sh" env)"
    trap '"$REPO_ROOT/scripts/cluster.sh" stop' EXIT

    # Expected files may be missing for a brand-new test; pg_regress then reports it as failed
    # and --accept creates it.
    mkdir -p "$REGRESS_DIR/expected"
    rm -rf "$REGRESS_DIR/results" "$REGRESS_DIR/regression.diffs" "$REGRESS_DIR/regression.out"

    say "pg_regress ($(scheduled_tests | wc -l) tests)"
    local rc=0
    # pg_regress itself creates the database (template0, C locale settings) and runs psql -X.
    # PGTZ/PGDATESTYLE are set by pg_regress itself; lc_messages=C is set per database.
    "$PG_REGRESS" \
        --bindir="$(pg_bindir)" \
        --inputdir="$REGRESS_DIR" \
        --outputdir="$REGRESS_DIR" \
        --host="$PGHOST" --port="$PGPORT" --user=postgres \
        --dbname=pg_auth_keys_regress \
        --schedule="$SCHEDULE" || rc=$?

    if ((rc != 0)); then
        if [[ -s "$REGRESS_DIR/regression.diffs" ]]; then
            echo "----- tests/pg_regress/regression.diffs -----"
            cat "$REGRESS_DIR/regression.diffs"
            echo "----- end of diffs -----"
        fi
        echo "server log: $PGHOST/postgres.log"
        echo "if the new output is right: scripts/regress.sh --accept (then review git diff)"
        exit "$rc"
    fi
}

case "${1:-}" in
    "") run ;;
    --accept) accept ;;
    *) die "usage: scripts/regress.sh [--accept]" ;;
esac
