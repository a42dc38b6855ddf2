-- PostgREST: the SQL PostgREST 12 sends for each request, replayed (PostgREST itself is not
-- installed here), with auth.pre_request() as db-pre-request and auth.postgrest_pre_config()
-- as db-pre-config (contract §5). :LAST_ERROR_SQLSTATE shows the SQLSTATE of each refusal.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SET auth.jwks_cache_ttl = 0;

-- The roles of a PostgREST set-up: the authenticator logs in and switches to a request role.
CREATE ROLE anon NOLOGIN;
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
SELECT json_build_object('apikey', left(:'pk', -1) || 'x')::text AS headers \gset
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

-- Cleanup for the tests that follow.
DROP TABLE todos;
DROP ROLE authenticator;
