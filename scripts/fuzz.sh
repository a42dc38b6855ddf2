#!/usr/bin/env bash
# Fuzz the JOSE core with cargo-fuzz (libFuzzer + AddressSanitizer); targets in fuzz/.
#
#   scripts/fuzz.sh [TARGET...]           # each target for FUZZ_SECONDS (60) seconds
#   scripts/fuzz.sh --smoke [TARGET...]   # each for FUZZ_SMOKE_SECONDS (6) from the checked-in
#                                         # corpus only (the test tier: make test-fuzz)
#   scripts/fuzz.sh --list                # the targets
#
# Targets (default: all): token, jwk, api_key, json, b64, seal, role_claim, revocation, issuer
# (fuzz/README.md: what each checks).
# Any crash, panic, failed property, leak, input slower than FUZZ_TIMEOUT (10) seconds, single
# allocation over FUZZ_MALLOC_LIMIT_MB (512) or RSS over FUZZ_RSS_LIMIT_MB (2048) stops that
# target, is saved under fuzz/artifacts/<target>/ (git-ignored), and makes the script exit 1
# after the remaining targets have run.
#
# Corpus: the checked-in seeds fuzz/corpus/<target>/ are only read. New inputs go to a working
# directory: a temporary one (deleted afterwards) with --smoke, else FUZZ_WORK_DIR/<target>
# (default build/fuzz-corpus/<target>, kept between runs so a long run builds on the last).
#
# Toolchain: cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address, sanitizer
# coverage). We set RUSTC_BOOTSTRAP=1, which lets the stable toolchain that setup.sh provides
# accept them; nightly is not needed. FUZZ_TOOLCHAIN=nightly runs `cargo +nightly fuzz` instead.
# The build (fuzz/target, ~3 min the first time) happens here, offline: setup.sh installs
# cargo-fuzz and fetches the crates of fuzz/Cargo.lock.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FUZZ_DIR="$REPO_ROOT/fuzz"
ALL_TARGETS=(token jwk api_key json b64 seal role_claim revocation issuer)
SMOKE=""
TARGETS=()

# Largest input each target mutates up to: tokens and key sets of realistic size (an RSA-4096
# token is ~1.3 KB, an RSA private JWK ~3.3 KB); API keys are 48-53 bytes.
max_len() {
    case "$1" in
        token) echo 4096 ;;
        jwk) echo 8192 ;;
        api_key) echo 128 ;;
        json) echo 2048 ;;
        b64) echo 512 ;;
        seal) echo 512 ;;
        role_claim) echo 1024 ;;
        revocation) echo 4096 ;;
        issuer) echo 8192 ;;
        *) die "no max_len for target $1" ;;
    esac
}

for arg in "$@"; do
    case "$arg" in
        --smoke) SMOKE=1 ;;
        --list) printf '%s\n' "${ALL_TARGETS[@]}"; exit 0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $arg (see scripts/fuzz.sh --help)" ;;
        *)
            [[ " ${ALL_TARGETS[*]} " == *" $arg "* ]] || die "unknown target $arg (targets: ${ALL_TARGETS[*]})"
            TARGETS+=("$arg")
            ;;
    esac
done
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")

SECONDS_EACH="${FUZZ_SECONDS:-60}"
[[ -n "$SMOKE" ]] && SECONDS_EACH="${FUZZ_SMOKE_SECONDS:-6}"
[[ "$SECONDS_EACH" =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS / FUZZ_SMOKE_SECONDS must be a positive integer"

cargo version >/dev/null 2>&1 || die "cargo not found (run scripts/setup.sh)"
CARGO=(cargo)
[[ -n "${FUZZ_TOOLCHAIN:-}" ]] && CARGO=(cargo "+$FUZZ_TOOLCHAIN")
"${CARGO[@]}" fuzz --version >/dev/null 2>&1 || die "cargo-fuzz not installed (run scripts/setup.sh)"
export RUSTC_BOOTSTRAP=1

# Build and run with the same flags, or `cargo fuzz run` rebuilds. Debug assertions and
# overflow checks are on (cargo-fuzz's default), so an arithmetic overflow is a crash too.
# Offline: setup.sh fetched the crates of fuzz/Cargo.lock (with --locked under CI).
BUILD_FLAGS=(--fuzz-dir "$FUZZ_DIR" --sanitizer address)
export CARGO_NET_OFFLINE=true
cd "$FUZZ_DIR"
say "building the fuzz targets with $("${CARGO[@]}" --version)"
t0=$SECONDS
build_log="$(mktemp "${TMPDIR:-/tmp}/pak-fuzz-build.XXXXXX")"
if ! "${CARGO[@]}" fuzz build "${BUILD_FLAGS[@]}" >"$build_log" 2>&1; then
    tail -n 60 "$build_log" >&2
    rm -f "$build_log"
    die "building the fuzz targets failed"
fi
rm -f "$build_log"
say "built in $((SECONDS - t0))s"

if [[ -n "$SMOKE" ]]; then
    WORK_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/pak-fuzz.XXXXXX")"
    trap 'rm -rf "$WORK_ROOT"' EXIT
else
    WORK_ROOT="${FUZZ_WORK_DIR:-$REPO_ROOT/build/fuzz-corpus}"
fi

failed=()
t0=$SECONDS
for t in "${TARGETS[@]}"; do
    seeds="$FUZZ_DIR/corpus/$t"
    [[ -d "$seeds" ]] || die "missing seed corpus $seeds"
    work="$WORK_ROOT/$t"
    artifacts="$FUZZ_DIR/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    log="$WORK_ROOT/$t.log"
    [[ -n "$SMOKE" ]] || log="$artifacts/last-run.log"
    say "fuzz $t for ${SECONDS_EACH}s (max_len $(max_len "$t"); new inputs in ${work#"$REPO_ROOT"/})"
    # libFuzzer writes new inputs only to the first corpus directory; the seeds come second.
    if "${CARGO[@]}" fuzz run "${BUILD_FLAGS[@]}" "$t" "$work" "$seeds" -- \
        -max_total_time="$SECONDS_EACH" \
        -max_len="$(max_len "$t")" \
        -timeout="${FUZZ_TIMEOUT:-10}" \
        -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" \
        -malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-512}" \
        -artifact_prefix="$artifacts/" \
        -print_final_stats=1 \
        >"$log" 2>&1; then
        printf '    ok:   %s: %s\n' "$t" "$(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || echo done)" >&2
    else
        # The report: from the panic or sanitizer message on (libFuzzer's dictionary omitted).
        report="$(sed -n '/panicked at\|==ERROR\|^ERROR: /,$p' "$log" | grep -v '^"\|^#' | head -n 80 || true)"
        printf '%s\n' "${report:-$(tail -n 40 "$log")}" >&2
        if [[ -n "$SMOKE" ]]; then
            cp "$log" "$artifacts/last-smoke.log"
            log="$artifacts/last-smoke.log"
        fi
        printf '    FAIL: %s (log %s; the input is in the same directory)\n' "$t" "${log#"$REPO_ROOT"/}" >&2
        failed+=("$t")
    fi
done
say "fuzzed ${#TARGETS[@]} target(s) in $((SECONDS - t0))s"
echo "fuzz: $((${#TARGETS[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
    die "fuzz targets failed: ${failed[*]} (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/crash-...)"
fi
