-- Token revocations (contract §5a): auth.revoke_tokens, auth.revoke_session, auth.revoke_token,
-- auth.sign_out and the view auth.token_revocations; the lifetime bound, the purge and the bound
-- on entries. :LAST_ERROR_SQLSTATE shows the SQLSTATE of each refusal.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
SET client_min_messages = warning;
SET auth.jwks_cache_ttl = 0;

-- A key of this test signs every token (a standby key signs when named); times are whole seconds.
SELECT auth.create_key('ES256', 'token revocations test') AS kid \gset
SELECT extract(epoch FROM now())::bigint AS now_s \gset
SELECT set_config('regress.kid', :'kid', false) IS NOT NULL AS kid_set,
       set_config('regress.now', :'now_s', false) IS NOT NULL AS now_set;
-- A token of `claims`, issued a minute ago, valid for an hour.
CREATE FUNCTION pg_temp.token(claims jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT auth.sign_jwt(jsonb_build_object('role', 'authenticated',
        'iat', current_setting('regress.now')::bigint - 60,
        'exp', current_setting('regress.now')::bigint + 3600) || claims, current_setting('regress.kid')) $$;
SELECT pg_temp.token('{"sub":"user-1"}') AS old1,
       pg_temp.token('{"sub":"user-2"}') AS other,
       pg_temp.token('{"sub":"user-3","session_id":"sess-A"}') AS sess_a,
       pg_temp.token('{"sub":"user-3","session_id":"sess-B"}') AS sess_b,
       pg_temp.token('{"sub":"user-4","jti":"jti-1"}') AS with_jti,
       pg_temp.token('{"sub":"user-4","jti":"jti-2"}') AS other_jti,
       pg_temp.token('{"sub":"user-5"}') AS no_jti,
       pg_temp.token('{"sub":"user-5","x":1}') AS no_jti_2 \gset
-- Before any revocation, every token verifies (and is now in this session's token cache).
SELECT auth.verify_jwt(t) ->> 'sub' AS sub
FROM unnest(ARRAY[:'old1', :'other', :'sess_a', :'sess_b', :'with_jti', :'other_jti', :'no_jti', :'no_jti_2']) t;

-- 1. revoke_tokens: every token of the subject issued before the cut-off ----------------------
SELECT auth.revoke_tokens('user-1', now() - interval '5 seconds', 'stolen laptop');
-- The cached token is refused at the next statement.
SELECT auth.verify_jwt(:'old1');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.try_verify_jwt(:'old1') IS NULL AS try_verify_null,
       auth.try_verify_jwt(:'other') ->> 'sub' AS other_subject_verifies;
-- A token issued after the cut-off verifies: signing in again works at once.
SELECT auth.verify_jwt(auth.sign_jwt(jsonb_build_object('sub', 'user-1', 'role', 'authenticated',
       'iat', :now_s, 'exp', :now_s + 3600), :'kid')) ->> 'sub' AS signed_in_again;
-- inspect_jwt says which revocation matched.
SELECT j -> 'valid' AS valid, j ->> 'reason' AS reason, j -> 'revocation' ->> 'kind' AS kind,
       j -> 'revocation' ->> 'reason' AS revocation_reason, j -> 'revocation' ? 'at' AS has_at
FROM auth.inspect_jwt(:'old1') j;
-- authenticate refuses; claims() and uid() are NULL for the bearer token of request.headers.
SELECT auth.authenticate(:'old1');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'old1')::text, true) IS NOT NULL AS headers_set;
SELECT auth.claims() IS NULL AS claims_null, auth.uid() IS NULL AS uid_null;
-- pre_request answers PT401.
SELECT auth.create_api_key('publishable', 'revocations test') AS pk \gset
SELECT set_config('request.headers', json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'old1')::text, true) IS NOT NULL AS headers_set;
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- 2. revoke_session: every token whose session_id claim equals it ----------------------------
SELECT auth.revoke_session('sess-A', 'signed out on one device');
SELECT auth.try_verify_jwt(:'sess_a') IS NULL AS session_a_refused,
       auth.try_verify_jwt(:'sess_b') ->> 'session_id' AS session_b_verifies;

-- 3. revoke_token: by jti, else by the token's SHA-256 -----------------------------------------
SELECT auth.revoke_token(:'with_jti');
SELECT auth.revoke_token(:'no_jti', 'leaked in a log');
SELECT auth.try_verify_jwt(:'with_jti') IS NULL AS jti_refused,
       auth.try_verify_jwt(:'other_jti') ->> 'jti' AS other_jti_verifies,
       auth.try_verify_jwt(:'no_jti') IS NULL AS hashed_token_refused,
       auth.try_verify_jwt(:'no_jti_2') ->> 'x' AS other_token_of_subject_verifies;

-- 4. The view: never a whole token -----------------------------------------------------------
SELECT kind, subject, session_id, jti, token_hash ~ '^sha256:[0-9a-f]{64}$' AS hashed,
       issued_before IS NOT NULL AS has_cutoff, reason, actor = session_user AS actor_is_caller,
       expires_at > now() AS live
FROM auth.token_revocations ORDER BY id;
-- The entry of a hashed token is kept until the token's exp (+ leeway + 1 s), a subject's for
-- auth.max_token_lifetime + 2 * auth.leeway + 1 s after its cut-off.
SELECT kind, expires_at - coalesce(issued_before, to_timestamp(:now_s + 3600)) AS kept_for
FROM auth.token_revocations WHERE kind IN ('subject', 'token') ORDER BY id;
SELECT count(*) AS rows_with_a_token FROM auth.token_revocations r
WHERE r::text LIKE '%' || split_part(:'no_jti', '.', 3) || '%'
   OR r::text LIKE '%' || split_part(:'with_jti', '.', 2) || '%';

-- 5. The audit trail -------------------------------------------------------------------------
SELECT action, detail ->> 'kind' AS kind,
       coalesce(detail ->> 'subject', detail ->> 'session_id', detail ->> 'jti',
                left(detail ->> 'token_hash', 7)) AS what,
       detail ->> 'reason' AS reason, (detail ->> 'revocation_id') IS NOT NULL AS has_id
FROM auth.key_events WHERE action IN ('revoke_tokens', 'revoke_session', 'revoke_token', 'sign_out')
ORDER BY id;

-- 6. Bad arguments: 22023, nothing revoked ---------------------------------------------------
SELECT count(*) AS entries_before FROM auth.token_revocations \gset
SELECT auth.revoke_tokens(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_tokens('');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_tokens(repeat('x', 1025));
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_tokens('user-9', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_tokens('user-9', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_tokens('user-9', now(), repeat('r', 1025));
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_session(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_token(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_token('not a token');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :entries_before AS nothing_revoked FROM auth.token_revocations;

-- 7. Privileges: PUBLIC cannot revoke nor read; sign_out is for every role with verified claims
CREATE ROLE regress_rev_user;
CREATE ROLE regress_rev_admin;
SELECT auth.grant_admin('regress_rev_admin');
SELECT pg_temp.token('{"sub":"user-6"}') AS user6 \gset
SET ROLE regress_rev_user;
SELECT auth.revoke_tokens('user-2');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_session('sess-B');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.revoke_token(:'other');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM auth.token_revocations;
\echo :LAST_ERROR_SQLSTATE
-- Without verified claims, sign_out refuses with 28000.
SELECT auth.sign_out();
\echo :LAST_ERROR_SQLSTATE
-- With them (a bound token), it signs the caller out: its own token stops verifying.
BEGIN;
SELECT auth.authenticate(:'user6') ->> 'sub' AS signed_in_as;
SELECT auth.sign_out();
COMMIT;
SELECT auth.try_verify_jwt(:'user6') IS NULL AS own_token_refused,
       auth.try_verify_jwt(:'other') ->> 'sub' AS others_unaffected;
RESET ROLE;
SELECT subject, reason, issued_before = at AS cut_off_is_now FROM auth.token_revocations WHERE kind = 'subject' AND subject = 'user-6';
-- An administrator revokes and reads the view.
SET ROLE regress_rev_admin;
SELECT auth.revoke_session('sess-admin');
SELECT count(*) > 0 AS admin_reads_view FROM auth.token_revocations;
RESET ROLE;

-- 8. The lifetime bound: exp - iat beyond auth.max_token_lifetime (one week) is refused -------
SELECT auth.sign_jwt(jsonb_build_object('sub', 'user-7', 'role', 'authenticated', 'iat', :now_s,
       'exp', :now_s + 8 * 86400), :'kid') AS eight_days \gset
SELECT auth.verify_jwt(:'eight_days');
\echo :LAST_ERROR_SQLSTATE
SET auth.max_token_lifetime = '9d';
SELECT auth.verify_jwt(:'eight_days') ->> 'sub' AS verifies_with_a_longer_bound;
RESET auth.max_token_lifetime;
SELECT current_setting('auth.max_token_lifetime') AS max_token_lifetime,
       current_setting('auth.max_token_revocations') AS max_token_revocations;

-- 9. The purge: an entry past its expires_at is deleted by the next revocation ---------------
SELECT auth.revoke_tokens('user-8', now() - interval '30 days');
SELECT count(*) AS expired_entries FROM auth.token_revocations WHERE expires_at < now();
SELECT auth.revoke_session('sess-C');
SELECT count(*) AS expired_entries_after_purge FROM auth.token_revocations WHERE expires_at < now();
-- What stays revoked stays revoked.
SELECT auth.try_verify_jwt(t) IS NULL AS still_refused
FROM unnest(ARRAY[:'old1', :'sess_a', :'with_jti', :'no_jti', :'user6']) t;

-- 10. The bound on entries: refused with 53400 when full, never half done -------------------
SELECT count(*) AS entries FROM auth.token_revocations \gset
SET auth.max_token_revocations = :entries;
SELECT auth.revoke_tokens('user-2');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :entries AS nothing_added,
       auth.try_verify_jwt(:'other') ->> 'sub' AS other_still_verifies
FROM auth.token_revocations;
RESET auth.max_token_revocations;

-- 11. auth.stats(): this backend's entries and their memory; refusals by reason ---------------
SELECT (s ->> 'token_revocations')::int > 0 AS entries_counted,
       (s ->> 'token_revocation_bytes')::int > 0 AS bytes_counted,
       (s -> 'verify_failed_by_reason' ->> 'token_revoked')::int > 0 AS revoked_counted,
       (s -> 'verify_failed_by_reason' ->> 'lifetime_too_long')::int > 0 AS lifetime_counted
FROM auth.stats() s;
