#!/usr/bin/env bash
# The benchmark (`make bench`): every figure is a ratio against a baseline measured in the same
# run, on the same machine, interleaved with it; the absolute numbers are printed too.
#
#   bench/run.sh            # run everything; the extension must be installed (make install)
#
# It starts its own throwaway cluster (scripts/cluster.sh, CLUSTER_NAME=bench-cluster, port
# 54339), creates a fresh database `bench` (bench/setup.sql), runs each measurement BENCH_ROUNDS
# times alternating with its baseline, keeps the best round of each (the least disturbed by other
# work on a shared machine), prints a table, writes it as markdown to build/bench/results.md
# (raw rounds: build/bench/rounds.txt) and stops the cluster. It never fails because a goal is
# missed: it is a measurement, not a test (exit status 0 unless something could not run).
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS [3]            rounds of each measurement and of its baseline
#   BENCH_COLD_TOKENS [4000]    distinct tokens per algorithm for the cold measurements
#   BENCH_WARM_CALLS [200000]   calls in the warm measurement
#   BENCH_RLS_ROWS [1000000]    rows in the RLS table
#   BENCH_PGBENCH_SECONDS [10]  length of each pgbench run (item 4)
#   BENCH_CLIENTS [8]           pgbench clients
#   BENCH_OPENSSL_SECONDS [3]   length of each `openssl speed` run
#   BENCH_ITEMS [1 2 3 4 5 6 7 8 9 10 11 12] which measurements to run (7 and 10 build
#                               bench/crypto with cargo), e.g. BENCH_ITEMS="10 12"
#   BENCH_REVOCATIONS [100000]  live token revocations in item 8
#   BENCH_API_KEY_CALLS [100000] verify_api_key calls per round in item 9
#   BENCH_DATABASES [200]       databases of item 11 (2 keys each)
#   BENCH_DB_CHANGES [10]       key changes in another database per round, item 11
#   BENCH_PORT [54339], BENCH_KEEP_CLUSTER [0] (1: leave the cluster running at the end)
#   PG_MAJOR, PG_CONFIG         the PostgreSQL to use (as for the other scripts; for 18 the
#                               cluster is bench-cluster-pg18, the results build/bench-pg18/)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
COLD_TOKENS="${BENCH_COLD_TOKENS:-4000}"
WARM_CALLS="${BENCH_WARM_CALLS:-200000}"
RLS_ROWS="${BENCH_RLS_ROWS:-1000000}"
NOTES_ROWS=10000
PGBENCH_SECONDS="${BENCH_PGBENCH_SECONDS:-10}"
CLIENTS="${BENCH_CLIENTS:-8}"
OPENSSL_SECONDS="${BENCH_OPENSSL_SECONDS:-3}"
ITEMS="${BENCH_ITEMS:-1 2 3 4 5 6 7 8 9 10 11 12}"
DB=bench

BENCH_DIR="$REPO_ROOT/bench"
OUT_DIR="$REPO_ROOT/build/bench$(major_suffix)"
RESULTS="$OUT_DIR/results.md"
ROUNDS_LOG="$OUT_DIR/rounds.txt"
BIN="$(pg_bindir)"

export CLUSTER_NAME="bench-cluster"
export CLUSTER_PORT="${BENCH_PORT:-54339}"
# Benchmark settings: durability off (nothing here is worth keeping), no parallel workers and no
# JIT (so every figure is one core's work and plans are the same in every round), no autovacuum
# (no background work mid-measurement), shared_buffers large enough for every table.
BASE_CONF="fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
jit = off
max_parallel_workers_per_gather = 0
shared_buffers = 256MB
work_mem = 16MB
max_connections = 32
log_min_messages = warning"
export CLUSTER_CONF="$BASE_CONF"

cluster() { "$REPO_ROOT/scripts/cluster.sh" "$@"; }
# psql into the benchmark database: unaligned, tuples only, stop at the first error.
sql() { "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"
[[ -x "$BIN/pgbench" ]] || die "pgbench is missing from $BIN"
mkdir -p "$OUT_DIR"
: >"$ROUNDS_LOG"

stop_cluster() {
    if [[ "${BENCH_KEEP_CLUSTER:-0}" == 1 ]]; then
        say "the benchmark cluster is still running: $(cluster status | sed -n 2p | sed 's/^ *connect: //')"
    else
        cluster stop || true
    fi
}
trap stop_cluster EXIT

# ---- small helpers ----------------------------------------------------------------------------

# Best of a list of numbers: min (durations) or max (rates).
best_min() { printf '%s\n' "$@" | sort -g | head -n1; }
best_max() { printf '%s\n' "$@" | sort -g | tail -n1; }
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
fmt() { awk -v x="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, x }'; }
log_round() { printf '%s\n' "$*" >>"$ROUNDS_LOG"; }
want() { [[ " $ITEMS " == *" $1 "* ]]; }

# Results: one row per measurement.
ROWS=()
# row ITEM MEASURED VALUE BASELINE BASE_VALUE RATIO GOAL VERDICT
SEP=$'\x1f'
row() { local IFS="$SEP"; ROWS+=("$*"); }
# verdict RATIO OP GOAL  -> met / missed
verdict() { awk -v r="$1" -v g="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? r >= g : r <= g; print ok ? "met" : "**missed**" }'; }

# `openssl speed` verify/s for one algorithm, one process.
openssl_verify_rate() {
    local alg="$1" pattern="$2"
    openssl speed -seconds "$OPENSSL_SECONDS" -multi 1 "$alg" 2>/dev/null |
        awk -v p="$pattern" 'index($0, p) { v = $NF } END { if (v == "") exit 1; print v }'
}

# ---- 7, built first: the crypto comparison outside PostgreSQL (bench/crypto) -------------------

# Built before the cluster starts; shares the extension's target directory (and so its aws-lc-sys
# build). Leave 7 out of BENCH_ITEMS to skip it; a failed build (no registry access) skips it too.
CRYPTO_BIN=""
if want 7 || want 10; then
    crypto_target="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
    say "7. building bench/crypto (release; the first build takes a few minutes)"
    if CARGO_TARGET_DIR="$crypto_target" cargo build --release --locked --quiet \
        --manifest-path "$BENCH_DIR/crypto/Cargo.toml"; then
        CRYPTO_BIN="$crypto_target/release/pg_auth_keys_bench_crypto"
    else
        say "7. bench/crypto did not build: that part is skipped"
    fi
fi

# ---- the cluster and the data -----------------------------------------------------------------

say "benchmark cluster: restarting so that the installed library is loaded"
cluster stop >/dev/null 2>&1 || true
cluster start
eval "$(cluster env)"
export PGHOST PGPORT PGUSER

"$BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c 'SET client_min_messages = warning' \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
say "loading data: $COLD_TOKENS tokens per algorithm, $RLS_ROWS RLS rows (takes a minute)"
sql -v cold_tokens="$COLD_TOKENS" -v rls_rows="$RLS_ROWS" -v notes_rows="$NOTES_ROWS" \
    -f "$BENCH_DIR/setup.sql" >/dev/null

NPROC="$(nproc)"
CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
PG_VERSION="$(sql -c 'SHOW server_version')"
EXT_VERSION="$(sql -c 'SELECT auth.version()')"
OPENSSL_VERSION="$(openssl version | awk '{print $1, $2}')"
DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. cold verification ---------------------------------------------------------------------
if want 1; then

# Seconds to verify every token of bench.cold_<table> once, in a new session (an empty token
# cache); the session first verifies one other token of that key, so the key set is loaded.
cold_seconds() {
    local alg="$1" table="$2"
    sql <<SQL
DO \$\$ BEGIN PERFORM auth.verify_jwt(tok) FROM bench.tokens WHERE alg = '$alg' AND n = 0; END \$\$;
SELECT bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM bench.$table');
SQL
}

say "1. cold verification: $COLD_TOKENS distinct tokens per algorithm vs openssl speed, $ROUNDS rounds"
declare -A OURS OSSL
for alg in ES256 RS256 EdDSA; do OURS[$alg]=""; OSSL[$alg]=""; done
for ((r = 1; r <= ROUNDS; r++)); do
    for alg in ES256 RS256 EdDSA; do
        case "$alg" in
            ES256) o="$(openssl_verify_rate ecdsap256 'ecdsa (nistp256)')"; t=cold_es256 ;;
            RS256) o="$(openssl_verify_rate rsa2048 'rsa 2048 bits')"; t=cold_rs256 ;;
            EdDSA) o="$(openssl_verify_rate ed25519 'EdDSA (Ed25519)')"; t=cold_eddsa ;;
        esac
        s="$(cold_seconds "$alg" "$t")"
        v="$(calc "$COLD_TOKENS / $s")"
        OURS[$alg]+=" $v"; OSSL[$alg]+=" $o"
        log_round "cold $alg round $r: verify_jwt $v/s, openssl $o/s"
    done
done
for alg in ES256 RS256 EdDSA; do
    # shellcheck disable=SC2086
    v="$(best_max ${OURS[$alg]})"; o="$(best_max ${OSSL[$alg]})"
    case "$alg" in ES256) ob="openssl speed ecdsap256" ;; RS256) ob="openssl speed rsa2048" ;; EdDSA) ob="openssl speed ed25519" ;; esac
    ratio="$(calc "$v / $o")"
    # The goals of issue #17: the raw checks are 1.1× (P-256) and 1.0× (RSA-2048) OpenSSL's rate.
    case "$alg" in ES256) goal=1.05 ;; RS256) goal=0.9 ;; EdDSA) goal=2 ;; esac
    row "1" "cold $alg auth.verify_jwt" "$(fmt "$v") verify/s" "$ob" "$(fmt "$o") verify/s" \
        "$(fmt "$ratio" 2)×" "≥ ${goal}×" "$(verdict "$ratio" ">=" "$goal")"
done
fi

# ---- 2. warm verification ---------------------------------------------------------------------
if want 2; then

say "2. warm verification: one token $WARM_CALLS times in one statement vs md5(), $ROUNDS rounds"
WARM=() MD5=()
for ((r = 1; r <= ROUNDS; r++)); do
    out="$(sql <<SQL
DO \$\$ BEGIN PERFORM auth.verify_jwt(tok) FROM bench.one; END \$\$;
SELECT bench.seconds('SELECT count(auth.verify_jwt(o.tok)) FROM generate_series(1, $WARM_CALLS) g CROSS JOIN bench.one o'),
       bench.seconds('SELECT count(md5(o.tok)) FROM generate_series(1, $WARM_CALLS) g CROSS JOIN bench.one o');
SQL
)"
    w="$(calc "${out%%|*} * 1e6 / $WARM_CALLS")"; m="$(calc "${out##*|} * 1e6 / $WARM_CALLS")"
    WARM+=("$w"); MD5+=("$m")
    log_round "warm round $r: verify_jwt $w µs/call, md5 $m µs/call"
done
w="$(best_min "${WARM[@]}")"; m="$(best_min "${MD5[@]}")"
ratio="$(calc "$w / $m")"
row "2" "warm auth.verify_jwt, same token" "$(fmt "$w" 2) µs/call" "md5() of the token" "$(fmt "$m" 2) µs/call" \
    "$(fmt "$ratio" 2)×" "≤ 2 µs" "$(verdict "$w" "<=" 2)"
fi

# ---- 3. RLS per row ---------------------------------------------------------------------------
if want 3; then

SUB="$(sql -c 'SELECT sub FROM bench.users')"
EXPECT_ROWS=$((RLS_ROWS / 100))
# Seconds of a sequential scan of bench.rls_rows as role authenticated, after the token is bound
# and request.jwt.claims is set (each variant reads what it needs); checks the visible rows.
rls_seconds() {
    local using="$1" out
    sql -c "ALTER POLICY owner_only ON bench.rls_rows USING ($using)"
    out="$(sql <<SQL
BEGIN;
DO \$\$ BEGIN
    PERFORM auth.authenticate(tok) FROM bench.one;
    PERFORM set_config('request.jwt.claims', claims, true) FROM bench.one;
END \$\$;
SET LOCAL ROLE authenticated;
SELECT count(*) FROM bench.rls_rows;
SELECT bench.seconds('SELECT count(*) FROM bench.rls_rows');
COMMIT;
SQL
)"
    [[ "$(head -n1 <<<"$out")" == "$EXPECT_ROWS" ]] ||
        die "RLS with ($using) saw $(head -n1 <<<"$out") rows, not $EXPECT_ROWS"
    tail -n1 <<<"$out"
}

say "3. RLS per row: $RLS_ROWS-row sequential scan, auth.uid() vs a literal, SQL uid() and (select auth.uid()), $ROUNDS rounds"
LIT=() AUTH=() SUPA=() INIT=()
for ((r = 1; r <= ROUNDS; r++)); do
    l="$(rls_seconds "owner = '$SUB'::uuid")"
    a="$(rls_seconds "owner = auth.uid()")"
    s="$(rls_seconds "owner = bench.supabase_uid()")"
    i="$(rls_seconds "owner = (SELECT auth.uid())")"
    LIT+=("$l"); AUTH+=("$a"); SUPA+=("$s"); INIT+=("$i")
    log_round "rls round $r: literal ${l}s, auth.uid() ${a}s, supabase uid() ${s}s, (select auth.uid()) ${i}s"
done
sql -c "ALTER POLICY owner_only ON bench.rls_rows USING (owner = auth.uid())"
l="$(best_min "${LIT[@]}")"; a="$(best_min "${AUTH[@]}")"; s="$(best_min "${SUPA[@]}")"; i="$(best_min "${INIT[@]}")"
ratio="$(calc "$a / $l")"
per_row="$(calc "($a - $l) * 1e9 / $RLS_ROWS")"
row "3" "RLS \`owner = auth.uid()\`, seq scan" "$(fmt "$(calc "$a * 1000")" 1) ms ($(awk -v x="$per_row" 'BEGIN { printf "%+.0f", x }') ns/row)" \
    "\`owner = '<literal>'\`" "$(fmt "$(calc "$l * 1000")" 1) ms" "$(fmt "$ratio" 2)×" "≤ 1.2×" "$(verdict "$ratio" "<=" 1.2)"
ratio="$(calc "$a / $s")"
row "3" "RLS \`owner = auth.uid()\`, seq scan" "$(fmt "$(calc "$a * 1000")" 1) ms" \
    "SQL uid() on request.jwt.claims" "$(fmt "$(calc "$s * 1000")" 1) ms" "$(fmt "$ratio" 2)×" "(for reference)" ""
ratio="$(calc "$i / $l")"
row "3" "RLS \`owner = (SELECT auth.uid())\` (one call per scan)" "$(fmt "$(calc "$i * 1000")" 1) ms" \
    "\`owner = '<literal>'\`" "$(fmt "$(calc "$l * 1000")" 1) ms" "$(fmt "$ratio" 2)×" "(for reference)" ""
fi

# ---- 4. PostgREST-shaped requests -------------------------------------------------------------
if want 4; then

pgbench_tps() {
    "$BIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$NPROC" -T "$PGBENCH_SECONDS" -f "$1" \
        -D search_path='"public"' -D role=authenticated -D claims="$CLAIMS" -D method=GET \
        -D path=/notes -D headers="$HEADERS" -D cookies='{}' -D limit=10 -D offset=0 "$DB" 2>&1 |
        tee -a "$ROUNDS_LOG.pgbench" |
        awk '/^tps = / { v = $3 } END { if (v == "") exit 1; print v }'
}

if [[ "$(sql -c "SELECT to_regproc('auth.pre_request') IS NOT NULL AND to_regproc('auth.create_api_key') IS NOT NULL")" != t ]]; then
    say "4. skipped: auth.pre_request() not installed"
    row "4" "PostgREST request with auth.pre_request()" "skipped: auth.pre_request() not installed" \
        "same request, empty db-pre-request function" "" "" "≥ 1.0×" "skipped"
else
    say "4. PostgREST-shaped requests: pgbench, $CLIENTS clients, ${PGBENCH_SECONDS}s each, with and without auth.pre_request() and with an empty one, $ROUNDS rounds"
    APIKEY="$(sql -c "SELECT auth.create_api_key('publishable', 'bench')")"
    TOKEN="$(sql -c 'SELECT tok FROM bench.one')"
    CLAIMS="$(sql -c 'SELECT claims FROM bench.one')"
    HEADERS="$(sql -v apikey="$APIKEY" -v token="$TOKEN" <<'SQL'
SELECT json_build_object('host', 'localhost:3000', 'user-agent', 'curl/8.5.0', 'accept', '*/*',
                         'apikey', :'apikey', 'authorization', 'Bearer ' || :'token');
SQL
)"
    # The script must work before it is timed (a failing transaction would be counted as a
    # failure, not timed): one request through psql, with the same values.
    seen="$(sql -v claims="$CLAIMS" -v headers="$HEADERS" <<'SQL'
BEGIN;
SELECT FROM (SELECT set_config('role', 'authenticated', true), set_config('request.headers', :'headers', true),
                    set_config('request.jwt.claims', :'claims', true)) s;
SELECT FROM auth.pre_request();
SELECT count(*) FROM (SELECT * FROM public.notes LIMIT 10) n;
COMMIT;
SQL
)"
    [[ "$seen" == 10 ]] || die "the PostgREST request as the benchmark user sees $seen notes, not 10"
    : >"$ROUNDS_LOG.pgbench"
    PLAIN=() PRE=() EMPTY=()
    for ((r = 1; r <= ROUNDS; r++)); do
        p="$(pgbench_tps "$BENCH_DIR/pgbench/postgrest_plain.sql")"
        q="$(pgbench_tps "$BENCH_DIR/pgbench/postgrest_pre_request.sql")"
        e="$(pgbench_tps "$BENCH_DIR/pgbench/postgrest_empty_pre_request.sql")"
        PLAIN+=("$p"); PRE+=("$q"); EMPTY+=("$e")
        log_round "postgrest round $r: with auth.pre_request $q tps, without $p tps, with an empty pre-request $e tps"
    done
    p="$(best_max "${PLAIN[@]}")"; q="$(best_max "${PRE[@]}")"; e="$(best_max "${EMPTY[@]}")"
    ratio="$(calc "$q / $p")"
    row "4" "PostgREST request with auth.pre_request(), $CLIENTS clients" "$(fmt "$q") tps" \
        "same request without it" "$(fmt "$p") tps" "$(fmt "$ratio" 2)×" "(for reference)" ""
    ratio="$(calc "$q / $e")"
    row "4" "PostgREST request with auth.pre_request(), $CLIENTS clients" "$(fmt "$q") tps" \
        "same request, empty db-pre-request function" "$(fmt "$e") tps" "$(fmt "$ratio" 2)×" "≥ 1.0×" "$(verdict "$ratio" ">=" 1.0)"
fi
fi

# ---- 5. HS256 vs SQL on pgcrypto --------------------------------------------------------------
if want 5; then

if [[ "$(sql -c "SELECT to_regproc('bench.sql_verify_hs256') IS NOT NULL")" != t ]]; then
    say "5. skipped: pgcrypto is not available (it comes with postgresql-contrib)"
    row "5" "HS256 auth.verify_jwt" "skipped: pgcrypto not available" "SQL verifier on pgcrypto hmac()" "" "" "(for reference)" "skipped"
else
    # The SQL verifier must be right before it is timed: every token valid, a forged one not.
    [[ "$(sql <<'SQL'
SELECT count(*) FILTER (WHERE bench.sql_verify_hs256(tok, s.secret) IS NOT NULL) = count(*)
       AND count(*) FILTER (WHERE bench.sql_verify_hs256(tok, s.secret || '\xff'::bytea) IS NULL) = count(*)
FROM bench.cold_hs256, bench.hs256_secret s
SQL
)" == t ]] || die "bench.sql_verify_hs256 does not verify correctly"
    say "5. HS256: $COLD_TOKENS distinct tokens, auth.verify_jwt vs SQL on pgcrypto, $ROUNDS rounds"
    OURS_HS=() SQL_HS=()
    for ((r = 1; r <= ROUNDS; r++)); do
        out="$(sql <<'SQL'
DO $$ BEGIN PERFORM auth.verify_jwt(tok) FROM bench.tokens WHERE alg = 'HS256' AND n = 0; END $$;
SELECT bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM bench.cold_hs256'),
       bench.seconds('SELECT count(bench.sql_verify_hs256(t.tok, s.secret)) FROM bench.cold_hs256 t, bench.hs256_secret s');
SQL
)"
        o="$(calc "$COLD_TOKENS / ${out%%|*}")"; b="$(calc "$COLD_TOKENS / ${out##*|}")"
        OURS_HS+=("$o"); SQL_HS+=("$b")
        log_round "hs256 round $r: verify_jwt $o/s, SQL on pgcrypto $b/s"
    done
    o="$(best_max "${OURS_HS[@]}")"; b="$(best_max "${SQL_HS[@]}")"
    ratio="$(calc "$o / $b")"
    row "5" "cold HS256 auth.verify_jwt" "$(fmt "$o") verify/s" "SQL verifier on pgcrypto hmac()" "$(fmt "$b") verify/s" \
        "$(fmt "$ratio" 1)×" "(for reference)" ""
fi
fi

# ---- 6. memory --------------------------------------------------------------------------------
if want 6; then

say "6. memory: shared memory for auth.max_keys, and the per-backend token cache at its bound"
read -r SHM SLOTS TOTAL_SHM CACHE_ENTRIES < <(sql -F ' ' -c "SELECT auth.stats() ->> 'shared_memory_bytes', auth.stats() ->> 'key_slots',
    pg_size_bytes(current_setting('shared_memory_size')), current_setting('auth.token_cache_entries')")
ratio="$(calc "$SHM / $TOTAL_SHM")"
row "6" "shared memory, auth.max_keys = $SLOTS" "$(fmt "$SHM") bytes ($(fmt "$(calc "$SHM / 1024")") KiB)" \
    "the server's whole shared memory (shared_memory_size)" "$(fmt "$(calc "$TOTAL_SHM / 1048576")") MiB" \
    "$(fmt "$(calc "$ratio * 100")" 2) %" "" ""

# The token cache: a new session verifies CACHE_ENTRIES distinct tokens (the cache is then full),
# then as many others (it empties when full and refills); anonymous RSS of the backend
# (/proc/self/status, read by the backend itself) before, after the first batch and after both.
sql >/dev/null <<SQL
CREATE FUNCTION bench.rss_anon_kb() RETURNS bigint LANGUAGE sql AS
\$\$ SELECT (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1]::bigint \$\$;
CREATE TABLE bench.mem_tokens AS
SELECT n, auth.sign_jwt(bench.claims(n), (SELECT kid FROM bench.keys WHERE alg = 'ES256')) AS tok
FROM generate_series(1, 2 * $CACHE_ENTRIES) n;
SQL
read -r FRESH LOADED FULL AGAIN TOKLEN < <(sql -F ' ' <<SQL
SELECT bench.rss_anon_kb() AS fresh \gset
DO \$\$ BEGIN PERFORM auth.verify_jwt(tok) FROM bench.tokens WHERE alg = 'ES256' AND n = 0; END \$\$;
SELECT bench.rss_anon_kb() AS loaded \gset
SELECT count(auth.verify_jwt(tok)) FROM bench.mem_tokens WHERE n <= $CACHE_ENTRIES \gset
SELECT bench.rss_anon_kb() AS full \gset
SELECT count(auth.verify_jwt(tok)) FROM bench.mem_tokens WHERE n > $CACHE_ENTRIES \gset
SELECT :fresh, :loaded, :full, bench.rss_anon_kb(), (SELECT avg(length(tok))::int FROM bench.mem_tokens);
SQL
)
CACHE_KB=$((FULL - LOADED))
per_entry="$(calc "$CACHE_KB * 1024 / $CACHE_ENTRIES")"
row "6" "token cache at its bound ($CACHE_ENTRIES tokens of $TOKLEN bytes), per backend" \
    "$(fmt "$(calc "$CACHE_KB / 1024")" 1) MiB ($(fmt "$per_entry") bytes/token); after $CACHE_ENTRIES more: +$(fmt "$(calc "($AGAIN - $FULL) / 1024")" 1) MiB" \
    "the backend's own memory before any verification (RssAnon)" "$(fmt "$(calc "$FRESH / 1024")" 1) MiB" \
    "$(fmt "$(calc "$CACHE_KB / $FRESH")" 2)×" "bounded" "$(awk -v d="$((AGAIN - FULL))" -v c="$CACHE_KB" 'BEGIN { print (d <= c / 4) ? "met" : "**missed**" }')"
row "6" "token-cache entry for a $TOKLEN-byte token (the row above ÷ $CACHE_ENTRIES)" "$(fmt "$per_entry") bytes" \
    "" "" "" "≤ 1536 bytes" "$(verdict "$per_entry" "<=" 1536)"
log_round "memory: RssAnon kB fresh $FRESH, key set loaded $LOADED, cache full $FULL, after refill $AGAIN"

# Shared memory per slot: restart with 16 times the slots (a postmaster setting).
BIG_SLOTS=$((SLOTS * 16))
CLUSTER_CONF="$BASE_CONF
auth.max_keys = $BIG_SLOTS" cluster stop >/dev/null 2>&1
CLUSTER_CONF="$BASE_CONF
auth.max_keys = $BIG_SLOTS" cluster start >/dev/null 2>&1
BIG_SHM="$(sql -c "SELECT auth.stats() ->> 'shared_memory_bytes'")"
# Back to the default, for the items that follow.
cluster stop >/dev/null 2>&1
cluster start >/dev/null 2>&1
SLOT_BYTES="$(calc "($BIG_SHM - $SHM) / ($BIG_SLOTS - $SLOTS)")"
HEADER_BYTES="$(calc "$SHM - $SLOTS * $SLOT_BYTES")"
row "6" "shared memory, auth.max_keys = $BIG_SLOTS" "$(fmt "$BIG_SHM") bytes: $(fmt "$SLOT_BYTES") per key + $(fmt "$HEADER_BYTES") header" \
    "" "" "" "" ""
fi

# ---- 7. crypto backends, outside PostgreSQL ---------------------------------------------------
if want 7; then

if [[ -n "$CRYPTO_BIN" ]]; then
    say "7. signature verification outside PostgreSQL: jsonwebtoken's aws_lc_rs vs rust_crypto"
    declare -A US=()
    while read -r alg path us; do US[$alg.$path]="$us"; done < <("$CRYPTO_BIN" 2000)
    for alg in ES256 RS256 EdDSA HS256; do
        a="${US[$alg.aws_lc]}"; rc="${US[$alg.rust_crypto]}"; o="${US[$alg.parsed_once]}"; c="${US[$alg.core]}"
        log_round "crypto $alg: core $c µs, aws_lc $a µs, rust_crypto $rc µs, parsed once $o µs"
        row "7" "$alg signature check, jsonwebtoken aws_lc_rs" "$(fmt "$a" 1) µs" \
            "jsonwebtoken rust_crypto" "$(fmt "$rc" 1) µs" "$(fmt "$(calc "$a / $rc")" 2)×" "choose by measurement" ""
        row "7" "$alg signature check, aws-lc-rs key parsed once (in use)" "$(fmt "$o" 1) µs" \
            "jsonwebtoken aws_lc_rs" "$(fmt "$a" 1) µs" "$(fmt "$(calc "$o / $a")" 2)×" "" ""
        row "7" "$alg whole JOSE core path (parse, signature, claims)" "$(fmt "$c" 1) µs" "" "" "" "" ""
    done
else
    row "7" "crypto backends outside PostgreSQL" "skipped" "" "" "" "" ""
fi
fi

# ---- 8. verification with 100,000 live token revocations -------------------------------------
if want 8; then

# Fill auth_private._token_revocations with N live entries that match none of the bench tokens
# (60% subjects, 30% sessions, 10% jtis; no hashed tokens), or empty it (N = 0).
revocations_fill() {
    sql <<SQL >/dev/null
TRUNCATE auth_private._token_revocations;
INSERT INTO auth_private._token_revocations (kind, value, issued_before, expires_at, reason)
SELECT k, 'bench-' || g, CASE WHEN k = 'subject' THEN now() END, now() + interval '1 day', 'bench'
FROM (SELECT g, CASE WHEN g % 10 < 6 THEN 'subject' WHEN g % 10 < 9 THEN 'session' ELSE 'jti' END AS k
      FROM generate_series(1, $1) g) s;
SQL
}
# In a new session: seconds of its first verification (which loads the key set and the
# revocations), of verifying every ES256 token of item 1 once (cold: each a cache miss), and of
# WARM_CALLS calls with one token (warm: cache hits), and of the first verification after this
# session committed a revocation (it reads what it changed again; the revocations incrementally).
revocations_round() {
    sql <<SQL | paste -sd'|'
SELECT bench.seconds('SELECT auth.verify_jwt(tok) FROM bench.tokens WHERE alg = ''ES256'' AND n = 0');
SELECT bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM bench.cold_es256');
SELECT bench.seconds('SELECT count(auth.verify_jwt(o.tok)) FROM generate_series(1, $WARM_CALLS) g CROSS JOIN bench.one o');
SELECT auth.revoke_session('bench-sign-out-' || pg_backend_pid());
SELECT bench.seconds('SELECT auth.verify_jwt(tok) FROM bench.one');
SQL
}

REVOCATIONS="${BENCH_REVOCATIONS:-100000}"
say "8. verification with $REVOCATIONS live token revocations vs none (ES256, cold and warm), $ROUNDS rounds"
R_COLD=() R_WARM=() R_LOAD=() R_NEXT=() N_COLD=() N_WARM=() N_LOAD=() N_NEXT=()
for ((r = 1; r <= ROUNDS; r++)); do
    revocations_fill 0
    IFS='|' read -r l c w _ x <<<"$(revocations_round)"
    N_LOAD+=("$l"); N_COLD+=("$c"); N_WARM+=("$w"); N_NEXT+=("$x")
    revocations_fill "$REVOCATIONS"
    IFS='|' read -r L C W _ X <<<"$(revocations_round)"
    R_LOAD+=("$L"); R_COLD+=("$C"); R_WARM+=("$W"); R_NEXT+=("$X")
    log_round "revocations round $r: none first ${l}s cold ${c}s warm ${w}s after-revoke ${x}s; $REVOCATIONS first ${L}s cold ${C}s warm ${W}s after-revoke ${X}s"
done
revocations_fill 0
c="$(best_min "${N_COLD[@]}")"; C="$(best_min "${R_COLD[@]}")"
ratio="$(calc "$C / $c")"
row "8" "cold ES256 verify_jwt, $REVOCATIONS revocations" "$(fmt "$(calc "$COLD_TOKENS / $C")") verify/s" \
    "no revocations" "$(fmt "$(calc "$COLD_TOKENS / $c")") verify/s" "$(fmt "$ratio" 3)× time" "≤ 1.05×" "$(verdict "$ratio" "<=" 1.05)"
w="$(best_min "${N_WARM[@]}")"; W="$(best_min "${R_WARM[@]}")"
ratio="$(calc "$W / $w")"
row "8" "warm verify_jwt, $REVOCATIONS revocations" "$(fmt "$(calc "$W * 1e6 / $WARM_CALLS")" 2) µs/call" \
    "no revocations" "$(fmt "$(calc "$w * 1e6 / $WARM_CALLS")" 2) µs/call" "$(fmt "$ratio" 3)× time" "≤ 1.05×" "$(verdict "$ratio" "<=" 1.05)"
l="$(best_min "${N_LOAD[@]}")"; L="$(best_min "${R_LOAD[@]}")"
row "8" "a session's first verification (reads $REVOCATIONS revocations)" "$(fmt "$(calc "$L * 1000")" 1) ms" \
    "no revocations" "$(fmt "$(calc "$l * 1000")" 1) ms" "$(fmt "$(calc "$L / $l")" 1)×" "(for reference)" ""
x="$(best_min "${N_NEXT[@]}")"; X="$(best_min "${R_NEXT[@]}")"
row "8" "the revoking session's next verification ($REVOCATIONS revocations; incremental read)" "$(fmt "$(calc "$X * 1000")" 2) ms" \
    "no revocations" "$(fmt "$(calc "$x * 1000")" 2) ms" "$(fmt "$(calc "$X / $x")" 1)×" "(for reference)" ""
fi

# ---- 9. API-key verification with 1, 1,000 and 100,000 stored keys ----------------------------
if want 9; then

API_KEY_CALLS="${BENCH_API_KEY_CALLS:-100000}"
# One real publishable key; N - 1 more stored keys beside it (rows with random hashes, which
# no presented key matches: only the size of the set counts).
APIKEY9="$(sql -c "SELECT auth.create_api_key('publishable', 'bench-9', 'anon')")"
api_keys_fill() {
    sql <<SQL >/dev/null
DELETE FROM auth_private._api_keys WHERE name = 'bench-9-filler';
INSERT INTO auth_private._api_keys (kind, name, prefix, role, key_hash)
SELECT 'publishable', 'bench-9-filler', 'sb_publishable_fill', 'anon', sha256(('bench-9-' || g)::bytea)
FROM generate_series(1, $1 - 1) g;
SQL
}
# In a new session: one verification (reads the keys), then API_KEY_CALLS in one statement.
api_keys_round() {
    sql -v key="$APIKEY9" <<SQL | tail -n1
SELECT count(*) FROM auth.verify_api_key(:'key');
SELECT bench.seconds(format('SELECT count(v.id) FROM generate_series(1, $API_KEY_CALLS) g
    CROSS JOIN LATERAL auth.verify_api_key(CASE WHEN g > 0 THEN %L END) v', :'key'));
SQL
}

say "9. verify_api_key with 1, 1,000 and 100,000 stored keys, $API_KEY_CALLS calls each, $ROUNDS rounds"
declare -A AK
for n in 1 1000 100000; do AK[$n]=""; done
for ((r = 1; r <= ROUNDS; r++)); do
    for n in 1 1000 100000; do
        api_keys_fill "$n"
        t="$(api_keys_round)"
        AK[$n]+=" $t"
        log_round "api keys round $r: $n keys ${t}s for $API_KEY_CALLS calls"
    done
done
api_keys_fill 1
# shellcheck disable=SC2086
one="$(best_min ${AK[1]})"
for n in 1000 100000; do
    # shellcheck disable=SC2086
    t="$(best_min ${AK[$n]})"
    ratio="$(calc "$t / $one")"
    row "9" "auth.verify_api_key, $n stored keys" "$(fmt "$(calc "$t * 1e6 / $API_KEY_CALLS")" 2) µs/call" \
        "1 stored key" "$(fmt "$(calc "$one * 1e6 / $API_KEY_CALLS")" 2) µs/call" "$(fmt "$ratio" 3)× time" "≤ 1.1×" \
        "$(verdict "$ratio" "<=" 1.1)"
done
fi

# ---- 10. the md5() yardstick: overhead per token around the signature check ---------------------
if want 10; then

if [[ -z "$CRYPTO_BIN" ]]; then
    say "10. skipped: bench/crypto did not build (it times the raw HMAC check)"
    row "10" "overhead per token ÷ md5()" "skipped: bench/crypto did not build" "" "" "" "≤ 1.5×" "skipped"
else
    # The same tokens in a file for bench/crypto, which times the raw HMAC-SHA256 check of each.
    HS_SECRET="$(sql -c "SELECT encode(secret, 'hex') FROM bench.hs256_secret")"
    sql -c 'SELECT tok FROM bench.cold_hs256' >"$OUT_DIR/tokens_supabase.txt"
    sql -c 'SELECT tok FROM bench.min_hs256' >"$OUT_DIR/tokens_minimal.txt"
    LEN_S="$(sql -c 'SELECT avg(length(tok))::int FROM bench.cold_hs256')"
    LEN_M="$(sql -c 'SELECT avg(length(tok))::int FROM bench.min_hs256')"
    say "10. md5() yardstick: cold HS256 verify_jwt, md5() and the raw HMAC check over the same $COLD_TOKENS tokens ($LEN_S and $LEN_M bytes), $ROUNDS rounds"
    V_S=() M_S=() R_S=() C_S=() V_M=() M_M=() R_M=() C_M=()
    for ((r = 1; r <= ROUNDS; r++)); do
        # One new session per round: every token is a cache miss; the key set is loaded first.
        IFS='|' read -r vs ms vm mm <<<"$(sql <<'SQL'
DO $$ BEGIN PERFORM auth.verify_jwt(tok) FROM bench.tokens WHERE alg = 'HS256' AND n = 0; END $$;
SELECT bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM bench.cold_hs256'),
       bench.seconds('SELECT count(md5(tok)) FROM bench.cold_hs256'),
       bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM bench.min_hs256'),
       bench.seconds('SELECT count(md5(tok)) FROM bench.min_hs256');
SQL
)"
        declare -A HM=()
        while read -r k v; do HM[$k]="$v"; done < <("$CRYPTO_BIN" hmac "$OUT_DIR/tokens_supabase.txt" "$HS_SECRET")
        rs="${HM[hmac_raw]}"; cs="${HM[hmac_core]}"; ks="${HM[hmac_core_keeping]:-}"
        while read -r k v; do HM[$k]="$v"; done < <("$CRYPTO_BIN" hmac "$OUT_DIR/tokens_minimal.txt" "$HS_SECRET")
        rm_="${HM[hmac_raw]}"; cm="${HM[hmac_core]}"; km="${HM[hmac_core_keeping]:-}"
        vs="$(calc "$vs * 1e6 / $COLD_TOKENS")"; ms="$(calc "$ms * 1e6 / $COLD_TOKENS")"
        vm="$(calc "$vm * 1e6 / $COLD_TOKENS")"; mm="$(calc "$mm * 1e6 / $COLD_TOKENS")"
        V_S+=("$vs"); M_S+=("$ms"); R_S+=("$rs"); C_S+=("$cs")
        V_M+=("$vm"); M_M+=("$mm"); R_M+=("$rm_"); C_M+=("$cm")
        log_round "md5 yardstick round $r: $LEN_S-byte verify_jwt $vs µs md5 $ms µs raw hmac $rs µs core $cs µs (keeping $ks µs); $LEN_M-byte verify_jwt $vm µs md5 $mm µs raw hmac $rm_ µs core $cm µs (keeping $km µs)"
    done
    for shape in S M; do
        if [[ "$shape" == S ]]; then
            v="$(best_min "${V_S[@]}")"; m="$(best_min "${M_S[@]}")"; raw="$(best_min "${R_S[@]}")"; core="$(best_min "${C_S[@]}")"
            what="Supabase-shaped HS256 token of $LEN_S bytes"
        else
            v="$(best_min "${V_M[@]}")"; m="$(best_min "${M_M[@]}")"; raw="$(best_min "${R_M[@]}")"; core="$(best_min "${C_M[@]}")"
            what="minimal HS256 token of $LEN_M bytes"
        fi
        over="$(calc "$v - $raw")"
        ratio="$(calc "$over / $m")"
        row "10" "overhead per token, $what: verify_jwt $(fmt "$v" 2) µs − raw HMAC check $(fmt "$raw" 2) µs (JOSE core path $(fmt "$core" 2) µs)" \
            "$(fmt "$over" 2) µs" "md5() of the same token, per row" "$(fmt "$m" 2) µs" "$(fmt "$ratio" 2)×" "≤ 1.5×" "$(verdict "$ratio" "<=" 1.5)"
        if [[ "$shape" == S ]]; then
            ratio="$(calc "$v / $m")"
            row "10" "cold HS256 auth.verify_jwt per token ($LEN_S bytes)" "$(fmt "$v" 2) µs" \
                "md5() of the same token, per row, same query shape" "$(fmt "$m" 2) µs" "$(fmt "$ratio" 2)×" "≤ 2×" "$(verdict "$ratio" "<=" 2)"
        fi
    done
fi
fi

# ---- 11. many databases: no cost across databases ---------------------------------------------
if want 11; then

DATABASES="${BENCH_DATABASES:-200}"
CHANGES="${BENCH_DB_CHANGES:-10}"
# Database B: the extension and one key; each change there creates a key (and so commits an
# invalidation of B's key table). Created afresh each round, so auth.max_keys is never reached.
make_db_b() {
    sql -d postgres -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS bench_b WITH (FORCE)' \
        -c 'CREATE DATABASE bench_b' >/dev/null
    sql -d bench_b -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION pg_auth_keys' \
        -c "SELECT auth.create_key('ES256', 'bench b')" >/dev/null
}
# In one session of database `bench`: verify bench.one (warm), then CHANGES times: run `$1` in
# database B (a key change, or a no-op), then verify the same token in `bench`. Prints the
# token-cache misses in `bench` over those verifications and their seconds in all.
cross_db_round() {
    local script
    script="DO \$\$ BEGIN PERFORM auth.verify_jwt(tok) FROM bench.one; END \$\$;
SELECT (auth.stats() ->> 'token_cache_misses')::bigint AS m0 \\gset
SELECT 0::float8 AS t \\gset"
    for ((i = 1; i <= CHANGES; i++)); do
        script+="
\\! \"$BIN/psql\" -X -q -At -v ON_ERROR_STOP=1 -d bench_b -c \"$1\" >/dev/null
SELECT :t + bench.seconds('SELECT auth.verify_jwt(tok) FROM bench.one') AS t \\gset"
    done
    script+="
SELECT (auth.stats() ->> 'token_cache_misses')::bigint - :m0, :t;"
    sql -F ' ' <<<"$script"
}

say "11. databases: $CHANGES key changes in another database vs none, $ROUNDS rounds"
CH_MISS=() CH_T=() Q_MISS=() Q_T=()
for ((r = 1; r <= ROUNDS; r++)); do
    make_db_b
    read -r qm qt <<<"$(cross_db_round "SELECT 1")"
    read -r cm ct <<<"$(cross_db_round "SELECT auth.create_key('ES256', 'change')")"
    Q_MISS+=("$qm"); Q_T+=("$qt"); CH_MISS+=("$cm"); CH_T+=("$ct")
    log_round "databases round $r: $CHANGES key changes in B: $cm misses in A, ${ct}s; B quiet: $qm misses, ${qt}s"
done
cm="$(best_max "${CH_MISS[@]}")"; qm="$(best_max "${Q_MISS[@]}")"
ct="$(best_min "${CH_T[@]}")"; qt="$(best_min "${Q_T[@]}")"
row "11" "token-cache misses in database A, verifying one token after each of $CHANGES key changes in database B (worst round)" \
    "$cm of $CHANGES" "database B quiet" "$qm of $CHANGES" "" "0" "$(verdict "$cm" "<=" 0)"
row "11" "warm verification in A after a key change in B" "$(fmt "$(calc "$ct * 1e6 / $CHANGES")" 1) µs/statement" \
    "database B quiet" "$(fmt "$(calc "$qt * 1e6 / $CHANGES")" 1) µs/statement" "$(fmt "$(calc "$ct / $qt")" 2)×" "(for reference)" ""

# DATABASES databases of 2 HS256 keys each (copies of one template, so every one verifies the
# same 200 tokens); a session in each verifies them (cold: 200 cache misses), against as many
# sessions in one database. Per-call cost inside the statement, and key-set loads per session.
say "11. $DATABASES databases of 2 keys each vs one database, $DATABASES sessions each way"
sql -d postgres -c 'SET client_min_messages = warning' -c 'DROP DATABASE IF EXISTS bench_tenant WITH (FORCE)' \
    -c 'CREATE DATABASE bench_tenant' >/dev/null
sql -d bench_tenant >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_auth_keys;
CREATE SCHEMA tenant;
CREATE SCHEMA bench;
CREATE FUNCTION bench.seconds(query text) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE query; RETURN extract(epoch FROM clock_timestamp() - t0); END $$;
CREATE TABLE tenant.kids AS
SELECT auth.import_key(jsonb_build_object('kty', 'oct', 'alg', 'HS256',
           'k', rtrim(translate(encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'base64'), '+/', '-_'), '=')),
           'tenant ' || i) AS kid
FROM generate_series(1, 2) i;
CREATE TABLE tenant.tokens AS
SELECT auth.sign_jwt(jsonb_build_object('sub', gen_random_uuid(), 'role', 'authenticated', 'n', n),
                     (SELECT min(kid) FROM tenant.kids)) AS tok
FROM generate_series(1, 200) n;
SQL
for ((d = 1; d < DATABASES; d++)); do
    sql -d postgres -c "DROP DATABASE IF EXISTS bench_tenant_$d" \
        -c "CREATE DATABASE bench_tenant_$d TEMPLATE bench_tenant STRATEGY = FILE_COPY" >/dev/null 2>&1 ||
        sql -d postgres -c "CREATE DATABASE bench_tenant_$d TEMPLATE bench_tenant" >/dev/null
done
tenant_db() { if (($1 == 0)); then echo bench_tenant; else echo "bench_tenant_$1"; fi; }
# One session in database $1: it reads the tokens once (so that their pages are in shared
# buffers in every database alike) and verifies one (the key set is loaded), then the seconds of
# verifying all 200.
tenant_session() {
    sql -d "$1" <<'SQL'
DO $$ BEGIN PERFORM count(md5(tok)) FROM tenant.tokens; PERFORM auth.verify_jwt(tok) FROM tenant.tokens LIMIT 1; END $$;
SELECT bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM tenant.tokens OFFSET 0');
SQL
}
# DATABASES sessions in as many databases, each followed by one in database bench_tenant
# (interleaved, so that a disturbance hits both alike); prints the seconds of the timed
# statements in all, each way, and the key-set loads of all the sessions.
tenant_round() {
    local many=0 one=0 loads0 loads1 d
    loads0="$(sql -d bench_tenant -c "SELECT auth.stats() ->> 'key_set_loads'")"
    for ((d = 0; d < DATABASES; d++)); do
        many="$(calc "$many + $(tenant_session "$(tenant_db "$d")")")"
        one="$(calc "$one + $(tenant_session bench_tenant)")"
    done
    loads1="$(sql -d bench_tenant -c "SELECT auth.stats() ->> 'key_set_loads'")"
    echo "$many $one $((loads1 - loads0))"
}
ONE_T=() MANY_T=() LOADS=()
for ((r = 1; r <= ROUNDS; r++)); do
    read -r tm t1 loads <<<"$(tenant_round)"
    ONE_T+=("$t1"); MANY_T+=("$tm"); LOADS+=("$loads")
    log_round "tenants round $r: $DATABASES databases ${tm}s, one database ${t1}s; key-set loads of the $((2 * DATABASES)) sessions: $loads"
done
calls=$((DATABASES * 200))
t1="$(best_min "${ONE_T[@]}")"; tm="$(best_min "${MANY_T[@]}")"
ratio="$(calc "$tm / $t1")"
row "11" "cold HS256 verify_jwt, $DATABASES sessions in $DATABASES databases of 2 keys each (auth.max_keys $(sql -c 'SHOW auth.max_keys'))" \
    "$(fmt "$(calc "$tm * 1e6 / $calls")" 2) µs/call" \
    "$DATABASES sessions in one database, interleaved" "$(fmt "$(calc "$t1 * 1e6 / $calls")" 2) µs/call" \
    "$(fmt "$ratio" 2)×" "≤ 1.05×" "$(verdict "$ratio" "<=" 1.05)"
row "11" "key-set loads of those $((2 * DATABASES)) sessions (worst round)" "$(best_max "${LOADS[@]}")" "" "" "" "one per session" \
    "$(verdict "$(best_max "${LOADS[@]}")" "<=" "$((2 * DATABASES))")"
sql -d postgres -c 'DROP DATABASE IF EXISTS bench_b WITH (FORCE)' >/dev/null
for ((d = DATABASES - 1; d >= 0; d--)); do
    sql -d postgres -c "DROP DATABASE IF EXISTS $(tenant_db "$d")" >/dev/null
done
fi

# ---- 12. a third-party issuer's key vs our own -------------------------------------------------
if want 12; then

# An issuer registered without a network: its row and a copy of the public half of the ES256
# benchmark key (as pg_restore would write them), due for no refresh; its tokens carry the same
# claims as ours plus `iss`. The baseline is our own tokens of the same shape and length (an
# `iss` no issuer has); both are measured with the issuer registered, ours also without.
# Register (1) or unregister (0) the issuer.
issuer_registered() {
    if [[ "$1" == 1 ]]; then
        sql <<SQL >/dev/null
DELETE FROM auth_private._issuer_keys;
DELETE FROM auth_private._issuers;
INSERT INTO auth_private._issuers (issuer, discover, jwks_uri, audience, default_role,
                                   last_success_at, next_refresh_at)
VALUES ('https://issuer.bench', false, 'https://issuer.bench/jwks', 'authenticated',
        'authenticated', now(), now() + interval '1 day');
INSERT INTO auth_private._issuer_keys (issuer, kid, alg, verify_key)
SELECT 'https://issuer.bench', k.kid, k.alg, k.verify_key
FROM auth_private._keys k JOIN bench.keys b ON b.kid = k.kid WHERE b.alg = 'ES256';
SQL
    else
        sql -c 'DELETE FROM auth_private._issuer_keys' -c 'DELETE FROM auth_private._issuers' >/dev/null
    fi
}
issuer_registered 1
sql <<SQL >/dev/null
DROP TABLE IF EXISTS bench.cold_issuer, bench.one_issuer;
CREATE TABLE bench.cold_issuer AS
SELECT auth.sign_jwt(bench.claims(g) || '{"iss": "https://issuer.bench"}', b.kid) AS tok
FROM bench.keys b, generate_series(1, $COLD_TOKENS) g WHERE b.alg = 'ES256';
CREATE TABLE bench.one_issuer AS
SELECT auth.sign_jwt(bench.claims(0) || '{"iss": "https://issuer.bench"}', b.kid) AS tok
FROM bench.keys b WHERE b.alg = 'ES256';
-- Our own tokens of the same length and shape: an `iss` that names no registered issuer.
DROP TABLE IF EXISTS bench.cold_ours_iss, bench.one_ours_iss;
CREATE TABLE bench.cold_ours_iss AS
SELECT auth.sign_jwt(bench.claims(g) || '{"iss": "https://oursel.bench"}', b.kid) AS tok
FROM bench.keys b, generate_series(1, $COLD_TOKENS) g WHERE b.alg = 'ES256';
CREATE TABLE bench.one_ours_iss AS
SELECT auth.sign_jwt(bench.claims(0) || '{"iss": "https://oursel.bench"}', b.kid) AS tok
FROM bench.keys b WHERE b.alg = 'ES256';
SQL
# In a new session: cold (every token once) and warm (one token WARM_CALLS times) seconds for
# the tokens of `cold_table` / `one_table`.
issuer_round() {
    sql <<SQL | paste -sd'|'
SELECT bench.seconds('SELECT auth.verify_jwt(tok) FROM bench.$2');
SELECT bench.seconds('SELECT count(auth.verify_jwt(tok)) FROM bench.$1');
SELECT bench.seconds('SELECT count(auth.verify_jwt(o.tok)) FROM generate_series(1, $WARM_CALLS) g CROSS JOIN bench.$2 o');
SQL
}
say "12. verification with a third-party issuer's key vs our own key (ES256, cold and warm), $ROUNDS rounds"
I_COLD=() I_WARM=() O_COLD=() O_WARM=() N_COLD=()
for ((r = 1; r <= ROUNDS; r++)); do
    issuer_registered 1
    IFS='|' read -r _ c w <<<"$(issuer_round cold_ours_iss one_ours_iss)"
    O_COLD+=("$c"); O_WARM+=("$w")
    IFS='|' read -r _ C W <<<"$(issuer_round cold_issuer one_issuer)"
    I_COLD+=("$C"); I_WARM+=("$W")
    issuer_registered 0
    IFS='|' read -r _ n _ <<<"$(issuer_round cold_ours_iss one_ours_iss)"
    N_COLD+=("$n")
    log_round "issuer round $r: ours cold ${c}s warm ${w}s; issuer cold ${C}s warm ${W}s; ours without issuers cold ${n}s"
done
issuer_registered 0
c="$(best_min "${O_COLD[@]}")"; C="$(best_min "${I_COLD[@]}")"
ratio="$(calc "$C / $c")"
row "12" "cold ES256 verify_jwt, an issuer's key" "$(fmt "$(calc "$COLD_TOKENS / $C")") verify/s" \
    "our own key" "$(fmt "$(calc "$COLD_TOKENS / $c")") verify/s" "$(fmt "$ratio" 3)× time" "≤ 1.05×" "$(verdict "$ratio" "<=" 1.05)"
n="$(best_min "${N_COLD[@]}")"
ratio="$(calc "$c / $n")"
row "12" "cold ES256 verify_jwt, our key, an issuer registered" "$(fmt "$(calc "$COLD_TOKENS / $c")") verify/s" \
    "no issuer registered" "$(fmt "$(calc "$COLD_TOKENS / $n")") verify/s" "$(fmt "$ratio" 3)× time" "(for reference)" ""
w="$(best_min "${O_WARM[@]}")"; W="$(best_min "${I_WARM[@]}")"
ratio="$(calc "$W / $w")"
row "12" "warm verify_jwt, an issuer's token" "$(fmt "$(calc "$W * 1e6 / $WARM_CALLS")" 2) µs/call" \
    "our own token" "$(fmt "$(calc "$w * 1e6 / $WARM_CALLS")" 2) µs/call" "$(fmt "$ratio" 3)× time" "≤ 1.05×" "$(verdict "$ratio" "<=" 1.05)"
fi

# ---- the table --------------------------------------------------------------------------------

{
    echo "Run $DATE on $NPROC cores ($CPU), load average at start $LOAD; PostgreSQL $PG_VERSION,"
    echo "pg_auth_keys $EXT_VERSION (release build), $OPENSSL_VERSION. Best of $ROUNDS rounds, each"
    echo "interleaved with its baseline."
    echo
    echo "| # | measurement | value | baseline | baseline value | ratio | goal | |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for r in "${ROWS[@]}"; do
        IFS="$SEP" read -r -a f <<<"$r"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${f[0]}" "${f[1]}" "${f[2]}" "${f[3]:-}" \
            "${f[4]:-}" "${f[5]:-}" "${f[6]:-}" "${f[7]:-}"
    done
} >"$RESULTS"

echo
echo "pg_auth_keys benchmark — $DATE — nproc = $NPROC — $CPU"
echo
for r in "${ROWS[@]}"; do
    IFS="$SEP" read -r -a f <<<"$r"
    printf '%s. %s: %s\n' "${f[0]}" "${f[1]}" "${f[2]}"
    [[ -n "${f[3]:-}" ]] && printf '     vs %s: %s\n' "${f[3]}" "${f[4]:-}"
    verdict_text="${f[7]:-}"
    [[ -n "${f[5]:-}" ]] && printf '     ratio %s   goal %s   %s\n' "${f[5]}" "${f[6]:-}" "${verdict_text//\*/}"
done
echo
echo "Rounds: $ROUNDS_LOG. Markdown table: $RESULTS"
