#!/usr/bin/env bash
# A throwaway PostgreSQL cluster with pg_auth_keys preloaded, for the demo, the regression
# tests and the benchmark. It listens on a unix socket only (no TCP), in its own directory.
#
#   scripts/cluster.sh start     # initdb on first use, then start (no-op when running)
#   scripts/cluster.sh stop      # fast shutdown; fine when nothing runs
#   scripts/cluster.sh status    # exit 0 when running, 3 when not
#   scripts/cluster.sh psql [psql args...]   # connect as the superuser "postgres"
#   scripts/cluster.sh env       # print PGHOST/PGPORT/PGUSER exports: eval "$(scripts/cluster.sh env)"
#   scripts/cluster.sh destroy   # stop and delete the cluster directory
#
# Environment:
#   CLUSTER_NAME   directory name under the run directory   (default: demo-cluster; -pg18
#                  is appended for PG_MAJOR=18, so that each major has its own cluster)
#   CLUSTER_DIR    full path of the cluster directory        (default: <run dir>/$CLUSTER_NAME)
#   CLUSTER_PORT   port, i.e. the socket name .s.PGSQL.<port> (default: 54329)
#   CLUSTER_CONF   extra postgresql.conf lines, applied at every start (e.g. "fsync = off")
#   CLUSTER_PRELOAD  shared_preload_libraries                (default: pg_auth_keys)
#   PG_MAJOR, PG_CONFIG  the PostgreSQL to run                (scripts/lib.sh)
# The run directory is <repo>/build, or /tmp/pg_auth_keys-<hash> when the cluster's OS user
# cannot reach <repo>/build (see scripts/lib.sh); PAK_RUN_DIR overrides it.
#
# Layout of $CLUSTER_DIR (owned by the cluster's OS user: `postgres` when run as root):
#   data/          PGDATA
#   .s.PGSQL.<port>  the unix socket (the directory itself is the socket directory)
#   postgres.log   the server log
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_NAME="${CLUSTER_NAME:-demo-cluster}"
CLUSTER_PORT="${CLUSTER_PORT:-54329}"
CLUSTER_PRELOAD="${CLUSTER_PRELOAD-pg_auth_keys}"
CLUSTER_CONF="${CLUSTER_CONF:-}"
if [[ -z "${CLUSTER_DIR:-}" ]]; then
    CLUSTER_DIR="$(pak_run_dir)/$CLUSTER_NAME$(major_suffix)"
fi
DATA="$CLUSTER_DIR/data"
LOG="$CLUSTER_DIR/postgres.log"
BIN="$(pg_bindir)"
# Settings that belong to this cluster, rewritten at every start so that changing
# CLUSTER_PORT or CLUSTER_CONF takes effect; postgresql.conf includes it.
LOCAL_CONF="pg_auth_keys_cluster.conf"

pg_ctl() { as_cluster_user "$BIN/pg_ctl" "$@"; }

is_running() {
    [[ -f "$DATA/PG_VERSION" ]] && pg_ctl status -D "$DATA" >/dev/null 2>&1
}

# The port and socket directory of the running server, from postmaster.pid (lines 4 and 5),
# so psql/env find the server even if CLUSTER_PORT changed since it started.
running_port() { sed -n 4p "$DATA/postmaster.pid"; }

check_preload_installed() {
    local lib
    [[ -z "$CLUSTER_PRELOAD" ]] && return
    for lib in ${CLUSTER_PRELOAD//,/ }; do
        [[ -e "$("$PG_CONFIG" --pkglibdir)/$lib.so" ]] ||
            die "$lib.so is not installed in $("$PG_CONFIG" --pkglibdir): run 'make install' first"
    done
}

do_initdb() {
    [[ "$CLUSTER_DIR" != *[[:space:]\'\"\\]* ]] || die "CLUSTER_DIR must not contain spaces or quotes: $CLUSTER_DIR"
    (( ${#CLUSTER_DIR} + 20 <= 107 )) || die "CLUSTER_DIR is too long for a unix socket path: $CLUSTER_DIR"
    say "initdb $DATA (OS user $(cluster_os_user))"
    make_cluster_owned_dir "$CLUSTER_DIR"
    # trust is safe here: no TCP listener, and the socket is only reachable by its owner
    # (and root): see unix_socket_permissions below. C locale keeps regress output stable.
    as_cluster_user "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C --no-sync >"$CLUSTER_DIR/initdb.log" 2>&1 ||
        { cat "$CLUSTER_DIR/initdb.log" >&2; die "initdb failed"; }
    as_cluster_user sh -c "printf '\n# added by scripts/cluster.sh\ninclude_if_exists = %s\n' \"'$LOCAL_CONF'\" >>'$DATA/postgresql.conf'"
}

write_local_conf() {
    local conf
    conf="# written by scripts/cluster.sh at every start; edit CLUSTER_* variables instead
port = $CLUSTER_PORT
listen_addresses = ''
unix_socket_directories = '$CLUSTER_DIR'
unix_socket_permissions = 0700
shared_preload_libraries = '$CLUSTER_PRELOAD'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
$CLUSTER_CONF
"
    printf '%s' "$conf" | as_cluster_user sh -c "cat >'$DATA/$LOCAL_CONF'"
}

# A data directory opens only with the major that made it.
check_major() {
    local made want
    [[ -f "$DATA/PG_VERSION" ]] || return 0
    made="$(cat "$DATA/PG_VERSION")"
    want="$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
    [[ "$made" == "$want" ]] ||
        die "$DATA was made by PostgreSQL $made, and PG_CONFIG is PostgreSQL $want: use PG_MAJOR=$made, or scripts/cluster.sh destroy"
}

cmd_start() {
    if is_running; then
        say "already running: $CLUSTER_DIR (port $(running_port))"
        return
    fi
    check_major
    check_preload_installed
    [[ -f "$DATA/PG_VERSION" ]] || do_initdb
    write_local_conf
    say "starting $CLUSTER_DIR on port $CLUSTER_PORT (log: $LOG)"
    if ! pg_ctl start -D "$DATA" -l "$LOG" -w -t 60 >/dev/null; then
        tail -n 30 "$LOG" >&2 || true
        die "the server did not start; full log: $LOG"
    fi
}

cmd_stop() {
    if ! is_running; then
        say "not running: $CLUSTER_DIR"
        return
    fi
    say "stopping $CLUSTER_DIR"
    pg_ctl stop -D "$DATA" -m fast -w -t 60 >/dev/null
}

cmd_status() {
    if is_running; then
        echo "running: $CLUSTER_DIR"
        echo "  connect: psql -h $CLUSTER_DIR -p $(running_port) -U postgres postgres"
        echo "  log:     $LOG"
    else
        echo "not running: $CLUSTER_DIR"
        return 3
    fi
}

cmd_env() {
    is_running || die "not running: $CLUSTER_DIR (scripts/cluster.sh start)"
    printf 'export PGHOST=%q PGPORT=%q PGUSER=postgres\n' "$CLUSTER_DIR" "$(running_port)"
}

cmd_psql() {
    is_running || die "not running: $CLUSTER_DIR (scripts/cluster.sh start)"
    exec "$BIN/psql" -h "$CLUSTER_DIR" -p "$(running_port)" -U postgres "$@"
}

cmd_destroy() {
    cmd_stop
    if [[ -d "$CLUSTER_DIR" ]]; then
        say "removing $CLUSTER_DIR"
        rm -rf -- "$CLUSTER_DIR" 2>/dev/null || as_root rm -rf -- "$CLUSTER_DIR"
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    psql) shift; cmd_psql "$@" ;;
    destroy) cmd_destroy ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
