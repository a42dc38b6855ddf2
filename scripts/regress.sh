#!/usr/bin/env bash
# Golden-file SQL tests: run tests/pg_regress/sql/*.sql with the pg_regress of PG_CONFIG's PGXS
# against a fresh throwaway cluster (scripts/cluster.sh, CLUSTER_NAME=regress-cluster) and
# compare the output with tests/pg_regress/expected/*.out.
#
#   scripts/regress.sh            # run every test listed in tests/pg_regress/schedule
#   scripts/regress.sh --alone    # each test alone, in a database of its own (same expected
#                                 # output: every file stands alone, include/fresh.psql)
#   scripts/regress.sh --accept   # after a run: copy results/*.out of failed or new tests
#                                 # into expected/ (review the git diff before committing!)
#   PG_MAJOR=18 scripts/regress.sh [--accept]    # the same on PostgreSQL 18 (its results/
#                                 # and regression.diffs are in <run dir>/regress-pg18)
#
# Expected output per major: expected/<test>.out is PostgreSQL 15's. Where 18 prints something
# else (psql's Unicode display widths, EXPLAIN's InitPlan notation, a server message), its
# output is in expected/pg18/<test>.out, which replaces expected/<test>.out on 18 only; every
# other test must print on 18 exactly what it prints on 15. --accept on 18 writes or removes
# that override.
#
# Tests run in the order of the schedule file, all in one database (pg_auth_keys_regress),
# so `setup` (CREATE EXTENSION) comes first. Every sql/*.sql must be listed in the schedule,
# and every scheduled test needs its sql file; the run refuses otherwise.
# The extension must already be installed in that PostgreSQL (make install-debug).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REGRESS_DIR="$REPO_ROOT/tests/pg_regress"
SCHEDULE="$REGRESS_DIR/schedule"
export CLUSTER_NAME="${CLUSTER_NAME:-regress-cluster}"
export CLUSTER_PORT="${CLUSTER_PORT:-54330}"
PG_REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
# The overrides of this major (none for 15) and the directory pg_regress reads the tests from
# and writes results/ and regression.diffs to: tests/pg_regress itself for 15, else
# <run dir>/regress-pg18, whose sql/, include/ and each expected file are links to the sources
# (to the override, if there is one). So both majors can run at once from one checkout.
OVERRIDES=""
RUN_DIR="$REGRESS_DIR"
if [[ "$PG_MAJOR" != "$SYSTEM_PG_MAJOR" ]]; then
    OVERRIDES="$REGRESS_DIR/expected/pg$PG_MAJOR"
    RUN_DIR="$(pak_run_dir)/regress$(major_suffix)"
fi

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
    for f in "$REGRESS_DIR"/expected/pg*/*.out; do
        [[ -e "$f" ]] || continue
        t="$(basename "$f" .out)"
        if ! scheduled_tests | grep -qxF "$t"; then
            printf 'error: %s overrides "%s", which the schedule does not list\n' "${f#"$REPO_ROOT"/}" "$t" >&2
            bad=1
        fi
    done
    if [[ "$(scheduled_tests | sort | uniq -d)" != "" ]]; then
        printf 'error: the schedule lists a test twice: %s\n' "$(scheduled_tests | sort | uniq -d | tr '\n' ' ')" >&2
        bad=1
    fi
    ((bad == 0)) || die "fix tests/pg_regress/schedule"
}

# The expected file of test $1 on this major.
expected_file() {
    if [[ -n "$OVERRIDES" && -f "$OVERRIDES/$1.out" ]]; then
        printf '%s\n' "$OVERRIDES/$1.out"
    else
        printf '%s\n' "$REGRESS_DIR/expected/$1.out"
    fi
}

# Results of the last run of this major become its expected output (on 18: an override, or none
# when 18 printed what 15's file says).
accept() {
    local t n=0
    [[ -d "$RUN_DIR/results" ]] || die "no results yet: run${OVERRIDES:+ PG_MAJOR=$PG_MAJOR} scripts/regress.sh first"
    while read -r t; do
        local res="$RUN_DIR/results/$t.out" base="$REGRESS_DIR/expected/$t.out"
        [[ -f "$res" ]] || continue
        if [[ -z "$OVERRIDES" ]]; then
            if ! cmp -s "$res" "$base"; then
                cp "$res" "$base"
                echo "accepted: ${base#"$REPO_ROOT"/}"
                n=$((n + 1))
            fi
        elif cmp -s "$res" "$base"; then
            if [[ -f "$OVERRIDES/$t.out" ]]; then
                rm -- "$OVERRIDES/$t.out"
                echo "removed: ${OVERRIDES#"$REPO_ROOT"/}/$t.out (PostgreSQL $PG_MAJOR prints what ${base#"$REPO_ROOT"/} says)"
                n=$((n + 1))
            fi
        elif ! cmp -s "$res" "$OVERRIDES/$t.out"; then
            mkdir -p "$OVERRIDES"
            cp "$res" "$OVERRIDES/$t.out"
            echo "accepted: ${OVERRIDES#"$REPO_ROOT"/}/$t.out"
            n=$((n + 1))
        fi
    done < <(scheduled_tests)
    rmdir "$OVERRIDES" 2>/dev/null || true
    echo "$n file(s) updated; review them with: git status tests/pg_regress/expected; git diff -- tests/pg_regress/expected"
}

# For majors with overrides: the run directory, rebuilt for every run.
make_run_dir() {
    [[ "$RUN_DIR" != "$REGRESS_DIR" ]] || return 0
    rm -rf -- "$RUN_DIR"
    mkdir -p "$RUN_DIR/expected"
    # sql/ and whatever else the tests read through PG_ABS_SRCDIR (include/), as they are.
    local d t
    for d in "$REGRESS_DIR"/*/; do
        d="$(basename "$d")"
        [[ "$d" == expected || "$d" == results ]] || ln -s "$REGRESS_DIR/$d" "$RUN_DIR/$d"
    done
    while read -r t; do
        [[ -f "$(expected_file "$t")" ]] && ln -s "$(expected_file "$t")" "$RUN_DIR/expected/$t.out"
    done < <(scheduled_tests)
    return 0
}

run() {
    check_schedule
    [[ -x "$PG_REGRESS" ]] || die "$PG_REGRESS not found (run make setup)"
    # A fresh cluster every run: no state leaks from an earlier run or from the demo.
    "$REPO_ROOT/scripts/cluster.sh" destroy
    "$REPO_ROOT/scripts/cluster.sh" start
    eval "$("$REPO_ROOT/scripts/cluster.sh" env)"
    trap '"$REPO_ROOT/scripts/cluster.sh" stop' EXIT

    # Expected files may be missing for a brand-new test; pg_regress then reports it as failed
    # and --accept creates it.
    mkdir -p "$REGRESS_DIR/expected"
    rm -rf "$RUN_DIR/results" "$RUN_DIR/regression.diffs" "$RUN_DIR/regression.out" "$RUN_DIR/alone.diffs"
    make_run_dir

    say "pg_regress ($(scheduled_tests | wc -l) tests, PostgreSQL $PG_MAJOR${OVERRIDES:+; overrides from ${OVERRIDES#"$REPO_ROOT"/}})"
    local rc=0
    # pg_regress itself creates the database (template0, C locale settings) and runs psql -X.
    # PGTZ/PGDATESTYLE are set by pg_regress itself; lc_messages=C is set per database.
    local t failed=()
    if [[ "$ALONE" == 1 ]]; then
        # One pg_regress per test, each in a new database: nothing an earlier file did is there.
        while read -r t; do
            "$PG_REGRESS" \
                --bindir="$(pg_bindir)" \
                --inputdir="$RUN_DIR" \
                --outputdir="$RUN_DIR" \
                --host="$PGHOST" --port="$PGPORT" --user=postgres \
                --dbname="pak_alone_$t" \
                "$t" >/dev/null || { failed+=("$t"); rc=1; }
            [[ -s "$RUN_DIR/regression.diffs" ]] && cat "$RUN_DIR/regression.diffs" >>"$RUN_DIR/alone.diffs"
            echo "alone: $t ${failed[*]:+(failed so far: ${failed[*]})}"
        done < <(scheduled_tests)
        [[ -f "$RUN_DIR/alone.diffs" ]] && mv "$RUN_DIR/alone.diffs" "$RUN_DIR/regression.diffs"
    else
        "$PG_REGRESS" \
            --bindir="$(pg_bindir)" \
            --inputdir="$RUN_DIR" \
            --outputdir="$RUN_DIR" \
            --host="$PGHOST" --port="$PGPORT" --user=postgres \
            --dbname=pg_auth_keys_regress \
            --schedule="$SCHEDULE" || rc=$?
    fi

    if ((rc != 0)); then
        if [[ -s "$RUN_DIR/regression.diffs" ]]; then
            echo "----- ${RUN_DIR#"$REPO_ROOT"/}/regression.diffs -----"
            cat "$RUN_DIR/regression.diffs"
            echo "----- end of diffs -----"
        fi
        echo "server log: $PGHOST/postgres.log"
        echo "if the new output is right: ${OVERRIDES:+PG_MAJOR=$PG_MAJOR }scripts/regress.sh --accept (then review git diff)"
        exit "$rc"
    fi
}

ALONE=0
case "${1:-}" in
    "") run ;;
    --alone) ALONE=1; run ;;
    --accept) accept ;;
    *) die "usage: scripts/regress.sh [--alone | --accept]" ;;
esac
