-- Row Level Security cookbook (the README's examples, run here).
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
\i :es1_in_use
SET auth.jwt_max_lifetime = '1h';
GRANT USAGE ON SCHEMA public TO authenticated, service_role;

-- 1. Owner-only rows: write the policy the natural way, no (select auth.uid()) wrapping needed.
CREATE TABLE notes (id int PRIMARY KEY, owner uuid NOT NULL, body text);
INSERT INTO notes VALUES
  (1, '11111111-1111-1111-1111-111111111111', 'alice 1'),
  (2, '11111111-1111-1111-1111-111111111111', 'alice 2'),
  (3, '22222222-2222-2222-2222-222222222222', 'bob 1');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_owner ON notes USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());
GRANT SELECT, INSERT ON notes TO authenticated, service_role;

SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated","email":"alice@example.com","team":"red"}') AS alice \gset
SELECT auth.sign_jwt('{"sub":"22222222-2222-2222-2222-222222222222","role":"authenticated","team":"blue"}') AS bob \gset
SELECT auth.sign_jwt('{"role":"service_role"}') AS service \gset

BEGIN;
SET LOCAL ROLE authenticated;
SELECT auth.authenticate(:'alice') ->> 'email' AS email;
SELECT auth.uid(), auth.role(), auth.email();
SELECT id, body FROM notes ORDER BY id;
-- WITH CHECK: Alice cannot write Bob's rows.
INSERT INTO notes VALUES (4, '22222222-2222-2222-2222-222222222222', 'forged');
ROLLBACK;

-- Anonymous (no token): auth.claims() is NULL and no row matches.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT auth.claims() IS NULL AS anonymous, count(*) FROM notes;
-- request.jwt.claims can be written by anyone with set_config: not trusted by default.
SELECT set_config('request.jwt.claims', '{"sub":"22222222-2222-2222-2222-222222222222"}', true) IS NOT NULL AS forged;
SELECT auth.uid(), count(*) FROM notes;
ROLLBACK;

-- The bearer token PostgREST puts in request.headers is verified.
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'bob')::text, true) IS NOT NULL AS headers_set;
SELECT id, body FROM notes ORDER BY id;
ROLLBACK;

-- 2. Team membership from a claim.
CREATE TABLE projects (id int PRIMARY KEY, team text NOT NULL, name text);
INSERT INTO projects VALUES (1, 'red', 'apollo'), (2, 'blue', 'gemini'), (3, 'red', 'mercury');
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_team ON projects USING (team = auth.claims() ->> 'team');
GRANT SELECT ON projects TO authenticated, service_role;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT auth.authenticate(:'alice') IS NOT NULL AS alice;
SELECT name FROM projects ORDER BY id;
SELECT auth.authenticate(:'bob') IS NOT NULL AS bob;
SELECT name FROM projects ORDER BY id;
ROLLBACK;

-- 3. The service role: a role with BYPASSRLS, chosen from the verified role claim.
BEGIN;
SELECT auth.authenticate(:'service') ->> 'role' AS role_claim;
SELECT set_config('role', auth.role(), true) AS switched_to;
SELECT count(*) AS all_rows FROM notes;
ROLLBACK;

-- auth.claims_source = 'postgrest' (superuser setting) trusts request.jwt.claims as PostgREST
-- sets them, except that a kid naming an unknown or revoked key is refused.
SET auth.claims_source = 'postgrest';
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub":"22222222-2222-2222-2222-222222222222","kid":"es-1"}', true) IS NOT NULL AS gateway_claims;
SELECT auth.uid(), count(*) FROM notes;
SELECT set_config('request.jwt.claims', '{"sub":"22222222-2222-2222-2222-222222222222","kid":"gone"}', true) IS NOT NULL AS unknown_kid;
SELECT auth.uid(), count(*) FROM notes;
ROLLBACK;
RESET auth.claims_source;
-- Only a superuser (or a role granted SET on it) can choose that mode.
BEGIN;
SET LOCAL ROLE authenticated;
SET auth.claims_source = 'postgrest';
ROLLBACK;

-- A binding is for the transaction by default; is_local => false keeps it for the session.
SELECT auth.authenticate(:'alice') IS NOT NULL AS bound;
SELECT auth.uid() IS NULL AS gone_after_the_transaction;
SELECT auth.authenticate(:'alice', is_local => false) IS NOT NULL AS bound_for_session;
SELECT auth.uid() AS still_alice;

-- 4. Once per statement. In a query that reads a table, each claims call becomes an InitPlan
-- (a planner support function does it), so a policy written the natural way costs what a
-- literal costs; the functions are STABLE, so this is what they mean anyway.
EXPLAIN (COSTS OFF) SELECT id FROM notes WHERE owner = auth.uid();
BEGIN;
SET LOCAL ROLE authenticated;
EXPLAIN (COSTS OFF) SELECT id FROM notes;
ROLLBACK;
-- A query that reads no table, PL/pgSQL expressions and column defaults call them directly.
EXPLAIN (COSTS OFF) SELECT auth.uid();
CREATE FUNCTION whoami() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF auth.uid() IS NULL THEN
        RETURN 'anonymous';
    END IF;
    RETURN auth.email();
END $$;
SELECT whoami() AS session_binding;
CREATE TABLE owned (id int PRIMARY KEY, owner uuid DEFAULT auth.uid());
INSERT INTO owned (id) VALUES (1);
COPY owned (id) FROM stdin;
2
\.
SELECT id, owner FROM owned ORDER BY id;
DROP TABLE owned;
DROP FUNCTION whoami();
