-- PostgREST: the SQL PostgREST 12 sends for each request, replayed (PostgREST itself is not
-- installed here), with auth.pre_request() as db-pre-request and auth.postgrest_pre_config()
-- as db-pre-config (contract §5). :LAST_ERROR_SQLSTATE shows the SQLSTATE of each refusal.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
\i :es1_in_use
SET client_min_messages = warning;
SET auth.jwks_cache_ttl = 0;

-- The roles of a PostgREST set-up: the authenticator logs in and switches to a request role.
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
CREATE TABLE todos (id int PRIMARY KEY, owner uuid, task text, public boolean NOT NULL DEFAULT false);
INSERT INTO todos VALUES
  (1, '11111111-1111-1111-1111-111111111111', 'alice: private', false),
  (2, '22222222-2222-2222-2222-222222222222', 'bob: private', false),
  (3, NULL, 'everyone: public', true);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY todos_read ON todos FOR SELECT USING (public OR owner = auth.uid());
GRANT SELECT ON todos TO anon, authenticated, service_role;

SELECT auth.create_api_key('publishable', 'web') AS pk \gset
SELECT auth.create_api_key('secret', 'server') AS sk \gset
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}') AS alice \gset
-- Bob's claims pasted over Alice's signature.
SELECT split_part(:'alice', '.', 1) || '.' ||
       split_part(auth.sign_jwt('{"sub":"22222222-2222-2222-2222-222222222222","role":"authenticated"}'), '.', 2) || '.' ||
       split_part(:'alice', '.', 3) AS forged \gset
-- A well-formed key that was never issued.
SELECT key AS unissued FROM auth_private._new_api_key('publishable') \gset

-- One request, as PostgREST sends it: the request role, claims and headers as transaction-local
-- settings (:setup, its output hidden since it echoes the headers), then the pre-request
-- function, then the query. :role, :claims and :headers vary.
\set setup 'SELECT set_config(''search_path'', ''"public"'', true), set_config(''role'', :''role'', true), set_config(''request.jwt.claims'', :''claims'', true), set_config(''request.method'', ''GET'', true), set_config(''request.path'', ''/todos'', true), set_config(''request.headers'', :''headers'', true), set_config(''request.cookies'', ''{}'', true);'
\set query 'WITH pgrst_source AS (SELECT "public"."todos"."id", "public"."todos"."task" FROM "public"."todos" ORDER BY "public"."todos"."id") SELECT pg_catalog.count(_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), ''[]'') AS body FROM (SELECT * FROM pgrst_source) _postgrest_t;'

SET ROLE authenticator;

\echo '-- 1. a publishable key alone: an anonymous request'
\set role anon
\set claims '{"role":"anon"}'
SELECT json_build_object('apikey', :'pk', 'accept', '*/*')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 2. a publishable key and a user JWT: the user sees their rows'
\set role authenticated
SELECT json_build_object('role', 'authenticated', 'sub', '11111111-1111-1111-1111-111111111111')::text AS claims \gset
SELECT json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'alice')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 3. request.jwt.claims naming another user changes nothing: claims come from the verified token'
SELECT json_build_object('role', 'authenticated', 'sub', '22222222-2222-2222-2222-222222222222')::text AS claims \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;

\echo '-- 4. no apikey header'
\set role anon
\set claims '{"role":"anon"}'
\set headers '{"accept":"*/*"}'
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

\echo '-- 5. a mistyped apikey, and a made-up one'
SELECT json_build_object('apikey', left(:'pk', -1) || CASE WHEN right(:'pk', 1) = 'x' THEN 'y' ELSE 'x' END)::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT json_build_object('apikey', :'unissued')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
ROLLBACK;

\echo '-- 6. a forged JWT in authorization'
SELECT json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'forged')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

\echo '-- 7. authorization must be a bearer JWT or the apikey itself'
SELECT json_build_object('apikey', :'pk', 'authorization', 'Basic dXNlcjpwYXNz')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
ROLLBACK;
SELECT json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'pk')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
COMMIT;

\echo '-- 8. a secret key from a server is accepted; from a browser it is refused'
\set role service_role
\set claims '{"role":"service_role"}'
SELECT json_build_object('apikey', :'sk', 'user-agent', 'curl/8.5.0')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
:query
COMMIT;
SELECT json_build_object('apikey', :'sk', 'origin', 'https://app.example.com')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT json_build_object('apikey', :'sk', 'sec-fetch-mode', 'cors')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
ROLLBACK;
SELECT json_build_object('apikey', :'sk', 'user-agent', 'Mozilla/5.0 (X11; Linux x86_64)')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
ROLLBACK;

RESET ROLE;

\echo '-- 9. a revoked key is refused by the next request'
SELECT auth.revoke_api_key((SELECT id FROM auth.api_keys WHERE name = 'web'));
SET ROLE authenticator;
\set role anon
\set claims '{"role":"anon"}'
SELECT json_build_object('apikey', :'pk')::text AS headers \gset
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
\o /dev/null
:setup
\o
SELECT auth.pre_request();
ROLLBACK;
RESET ROLE;

\echo '-- 10. db-pre-config publishes the JWKS as PostgREST''s JWT secret'
BEGIN;
SELECT auth.postgrest_pre_config();
SELECT current_setting('pgrst.jwt_secret')::jsonb = auth.jwks() AS jwt_secret_is_jwks,
       jsonb_array_length(current_setting('pgrst.jwt_secret')::jsonb -> 'keys') > 0 AS has_keys;
COMMIT;
SELECT current_setting('pgrst.jwt_secret', true) IS NULL OR current_setting('pgrst.jwt_secret', true) = '' AS local_to_the_transaction;

\echo '-- 11. the browser rule covers the role a request reaches, by whichever credential'
-- A secret key, an API key whose role is in auth.elevated_roles (the legacy service_role key),
-- or a bearer token for such a role (its role claim, wherever auth.role_claim points, or the
-- legacy service_role key sent as the token) is refused from a browser; from a server each
-- passes. A database of its own: the legacy secret can only be migrated before any key is in use.
\set regress_db :DBNAME
DROP DATABASE IF EXISTS pak_postgrest_browser;
CREATE DATABASE pak_postgrest_browser;
\c pak_postgrest_browser
SET client_min_messages = warning;
CREATE EXTENSION pg_auth_keys;
SET auth.jwks_cache_ttl = 0;
SELECT standby_kid FROM auth.migrate_legacy_secret('postgrest browser legacy secret, 32+ characters') \gset
SELECT auth.sign_jwt('{"role":"service_role","exp":4102444800}') AS legacy_service \gset
SELECT auth.sign_jwt('{"role":"anon","exp":4102444800}') AS legacy_anon \gset
SELECT auth.import_legacy_api_key(:'legacy_service') IS NOT NULL AS service_registered,
       auth.import_legacy_api_key(:'legacy_anon') IS NOT NULL AS anon_registered;
SELECT auth.rotate_key(:'standby_kid', force => true) = :'standby_kid' AS es256_in_use;
SELECT auth.create_api_key('publishable', 'browser web') AS pk \gset
SELECT auth.create_api_key('secret', 'browser server') AS sk \gset
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}') AS alice \gset
SELECT auth.sign_jwt('{"sub":"33333333-3333-3333-3333-333333333333","role":"service_role"}') AS service_user \gset
SELECT auth.sign_jwt('{"sub":"44444444-4444-4444-4444-444444444444","role":"authenticated","app_metadata":{"role":"service_role"}}') AS nested_service \gset
-- One request: its headers as PostgREST sets them, then db-pre-request.
CREATE FUNCTION pg_temp.request(headers json) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.headers', headers::text, true);
    PERFORM auth.pre_request();
    RETURN 'accepted';
END $$;
\set browser '''origin'', ''https://app.example.com'''
\set server '''user-agent'', ''curl/8.5.0'''
SET ROLE authenticator;
-- a publishable key and a user token, from a browser: the normal case
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'alice', :browser));
-- a token whose role claim is service_role
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'service_user', :browser));
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'service_user', 'sec-fetch-mode', 'cors'));
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'service_user', 'user-agent', 'Mozilla/5.0 (X11; Linux x86_64)'));
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'service_user', :server));
-- the legacy service_role key as the bearer token
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'legacy_service', :browser));
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'legacy_service', :server));
-- the legacy service_role key as the apikey, alone and repeated as the bearer token
SELECT pg_temp.request(json_build_object('apikey', :'legacy_service', :browser));
SELECT pg_temp.request(json_build_object('apikey', :'legacy_service', 'authorization', 'Bearer ' || :'legacy_service', :browser));
SELECT pg_temp.request(json_build_object('apikey', :'legacy_service', :server));
-- the legacy anon key is not elevated
SELECT pg_temp.request(json_build_object('apikey', :'legacy_anon', 'authorization', 'Bearer ' || :'alice', :browser));
-- a secret key, whatever token comes with it
SELECT pg_temp.request(json_build_object('apikey', :'sk', 'authorization', 'Bearer ' || :'alice', :browser));
SELECT pg_temp.request(json_build_object('apikey', :'sk', 'authorization', 'Bearer ' || :'alice', :server));
-- auth.role_claim = '.app_metadata.role': the role is where PostgREST's jwt-role-claim-key
-- (set to the same path) finds it; the legacy key stays elevated under any path.
RESET ROLE;
SET auth.role_claim = '.app_metadata.role';
SET ROLE authenticator;
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'nested_service', :browser));
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'nested_service', :server));
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'legacy_service', :browser));
RESET ROLE;
RESET auth.role_claim;
-- auth.elevated_roles is the set: with authenticated in it, a user token is refused from browsers.
SET auth.elevated_roles = 'service_role, authenticated';
SET ROLE authenticator;
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'alice', :browser));
SELECT pg_temp.request(json_build_object('apikey', :'pk', 'authorization', 'Bearer ' || :'alice', :server));
-- a superuser setting: the authenticator cannot narrow it
SET auth.elevated_roles = '';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
RESET auth.elevated_roles;
\c :regress_db
DROP DATABASE pak_postgrest_browser;

-- Cleanup for the tests that follow.
DROP TABLE todos;
DROP ROLE authenticator;
