-- PostgREST with API keys that grant their role: auth.pre_request() makes the role of a key that
-- is the request's only credential the transaction's role. Each request is the transaction
-- PostgREST 12 runs, under a LOGIN NOINHERIT authenticator: SET SESSION AUTHORIZATION makes it
-- the session user, whose memberships SET ROLE checks. A database of its own.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
SET client_min_messages = warning;
\set regress_db :DBNAME
DROP DATABASE IF EXISTS pak_postgrest_roles;
CREATE DATABASE pak_postgrest_roles;
\c pak_postgrest_roles
SET client_min_messages = warning;
CREATE EXTENSION pg_auth_keys;
SET auth.jwks_cache_ttl = 0;
SELECT auth.rotate_key(auth.create_key(), force => true) IS NOT NULL AS key_in_use;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;
CREATE ROLE pak_roles_authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO pak_roles_authenticator;
-- An authenticator that was never granted service_role.
CREATE ROLE pak_roles_lonely LOGIN NOINHERIT;
GRANT anon TO pak_roles_lonely;
CREATE ROLE pak_roles_admin NOLOGIN;

CREATE TABLE notes (id int PRIMARY KEY, owner uuid, body text);
INSERT INTO notes VALUES (1, '11111111-1111-1111-1111-111111111111', 'alice'),
                         (2, '22222222-2222-2222-2222-222222222222', 'bob'),
                         (3, NULL, 'nobody');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON notes FOR SELECT USING (owner = auth.uid());
CREATE POLICY service ON notes FOR SELECT TO service_role USING (true);
GRANT SELECT ON notes TO anon, authenticated, service_role;

SELECT auth.create_api_key('publishable', 'web') AS pk \gset
SELECT auth.create_api_key('secret', 'server') AS sk \gset
SELECT auth.create_api_key('secret', 'worker', 'authenticated') AS sk_user \gset
SELECT id AS sk_id FROM auth.api_keys WHERE name = 'server' \gset
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}') AS alice \gset
-- The ids of the keys, for the queries to compare the claims with.
CREATE TABLE key_ids AS SELECT id, name FROM auth.api_keys;
GRANT SELECT ON key_ids TO PUBLIC;

-- A request: PostgREST's transaction-local settings (output hidden: it echoes the headers),
-- db-pre-request, then the query, which shows the role it runs as, the rows it sees, and the
-- claims RLS policies see (for a key alone: the key's role, id and name; no user).
\set setup 'SELECT set_config(''search_path'', ''"public"'', true), set_config(''request.method'', ''GET'', true), set_config(''request.path'', ''/notes'', true), set_config(''request.headers'', :''headers'', true);'
\set query 'SELECT current_user, (SELECT string_agg(body, '','' ORDER BY id) FROM notes) AS visible, auth.role() AS claim_role, auth.claims() ->> ''api_key_name'' AS key_name, (auth.claims() ->> ''api_key_id'')::uuid IS NOT DISTINCT FROM (SELECT id FROM key_ids WHERE name = auth.claims() ->> ''api_key_name'') AS key_id_matches, auth.uid() AS uid;'

SET SESSION AUTHORIZATION pak_roles_authenticator;

\echo '-- 1. a secret key alone: the query runs as service_role and sees every row'
SELECT json_build_object('apikey', :'sk', 'user-agent', 'curl/8.5.0')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;
SELECT current_user AS after_commit;

\echo '-- 2. the secret key repeated as the bearer token: the same'
SELECT json_build_object('apikey', :'sk', 'authorization', 'Bearer ' || :'sk')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 3. a publishable key alone: anon, which sees nothing here'
SELECT json_build_object('apikey', :'pk')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 4. a secret key mapped to authenticated'
SELECT json_build_object('apikey', :'sk_user')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 5. a secret key and a user JWT: the user''s role (PostgREST switched to it) and RLS'
SELECT json_build_object('apikey', :'sk', 'authorization', 'Bearer ' || :'alice')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE authenticated;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 6. a secret key from a browser is refused'
SELECT json_build_object('apikey', :'sk', 'origin', 'https://app.example.com')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

\echo '-- 7. a role outside auth.allowed_roles is never reached'
RESET SESSION AUTHORIZATION;
SELECT auth.create_api_key('secret', 'admin', 'pak_roles_admin');
\echo :LAST_ERROR_SQLSTATE
-- narrowed after the key was made
SET auth.allowed_roles = 'anon, service_role';
SET SESSION AUTHORIZATION pak_roles_authenticator;
SELECT json_build_object('apikey', :'sk_user')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;
RESET auth.allowed_roles;

\echo '-- 8. an authenticator that is not a member of the key''s role: refused, with the GRANT'
SET SESSION AUTHORIZATION pak_roles_lonely;
SELECT json_build_object('apikey', :'sk')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;

\echo '-- 9. a revoked key is refused by the next request on the same connection'
SELECT auth.revoke_api_key(:'sk_id');
SET SESSION AUTHORIZATION pak_roles_authenticator;
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE anon;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET SESSION AUTHORIZATION;

\echo '-- 10. auth.api_key_token: a short-lived token of the key''s role, valid while the key is'
SELECT auth.create_api_key('secret', 'realtime') AS rk \gset
SELECT auth.api_key_token(:'rk') AS rt \gset
SELECT v ->> 'role' AS role,
       (v ->> 'api_key_id')::uuid = (SELECT id FROM auth.api_keys WHERE name = 'realtime') AS id_matches,
       (v ->> 'exp')::bigint - (v ->> 'iat')::bigint AS lifetime
FROM auth.verify_jwt(:'rt') v;
SELECT auth.api_key_token(:'rk', '2 hours');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.api_key_token(:'rk', '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.api_key_token(left(:'rk', -1) || CASE WHEN right(:'rk', 1) = 'x' THEN 'y' ELSE 'x' END);
\echo :LAST_ERROR_SQLSTATE
-- the key is the credential: anyone holding it may mint
SET SESSION AUTHORIZATION pak_roles_lonely;
SELECT length(auth.api_key_token(:'rk', '1 minute')) > 0 AS minted_by_anyone;
RESET SESSION AUTHORIZATION;
-- revoked: its tokens are refused at the next statement, and it mints no more
SELECT auth.revoke_api_key((SELECT id FROM auth.api_keys WHERE name = 'realtime'));
SELECT auth.verify_jwt(:'rt');
\echo :LAST_ERROR_SQLSTATE
SELECT auth.inspect_jwt(:'rt') -> 'valid' AS valid, auth.inspect_jwt(:'rt') ->> 'reason' AS reason;
SELECT auth.api_key_token(:'rk');
\echo :LAST_ERROR_SQLSTATE

\c :regress_db
DROP DATABASE pak_postgrest_roles;
DROP ROLE pak_roles_authenticator, pak_roles_lonely, pak_roles_admin;
