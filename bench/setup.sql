-- pg_auth_keys benchmark: the data every measurement uses (run by bench/run.sh in a fresh
-- database). psql variables: cold_tokens (tokens per algorithm), rls_rows, notes_rows.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION pg_auth_keys;
-- The HS256 comparison (item 5) needs pgcrypto's hmac(); run.sh skips that item without it.
SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgcrypto') AS have_pgcrypto \gset
\if :have_pgcrypto
CREATE EXTENSION pgcrypto;
\endif

DO $$ BEGIN
    CREATE ROLE anon NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
    CREATE ROLE authenticated NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
    CREATE ROLE service_role NOLOGIN BYPASSRLS;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;

CREATE SCHEMA bench;
GRANT USAGE ON SCHEMA bench TO PUBLIC;

-- Wall-clock seconds of one statement, run to completion (its rows are discarded). Planning is
-- included; it is well under 1 ms for every statement timed here, which all run for 50 ms or more.
CREATE FUNCTION bench.seconds(query text) RETURNS double precision
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE query;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;

-- One key per algorithm the project makes; all stay standby, which is trusted, and
-- auth.sign_jwt signs with a named key. The HS256 secret is imported, and kept here for the SQL
-- verifier of item 5: the extension stores it sealed, so it cannot be read back.
CREATE TABLE bench.hs256_secret AS
SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')) AS secret;
CREATE TABLE bench.keys (alg text PRIMARY KEY, kid text NOT NULL);
INSERT INTO bench.keys
SELECT alg, auth.create_key(alg, 'benchmark') FROM unnest(ARRAY['ES256', 'RS256', 'EdDSA']) alg;
INSERT INTO bench.keys
SELECT 'HS256', auth.import_key(jsonb_build_object('kty', 'oct', 'alg', 'HS256',
           'k', rtrim(translate(encode(s.secret, 'base64'), '+/', '-_'), '=')), 'benchmark')
FROM bench.hs256_secret s;

-- The user every measurement authenticates as; the claims are those of a Supabase access token.
CREATE TABLE bench.users (sub uuid PRIMARY KEY);
INSERT INTO bench.users VALUES ('5f8a2c1e-3b7d-4e9a-8c6f-1d2e3f4a5b6c');
CREATE FUNCTION bench.claims(n integer) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT jsonb_build_object(
        'sub', CASE WHEN n = 0 THEN (SELECT sub FROM bench.users)::text ELSE gen_random_uuid()::text END,
        'role', 'authenticated', 'aud', 'authenticated',
        'email', 'user' || n || '@example.com', 'phone', '', 'session_id', gen_random_uuid(),
        'app_metadata', jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email')),
        'user_metadata', '{}'::jsonb, 'aal', 'aal1', 'is_anonymous', false)
$$;

-- Item 1 and 5: N distinct tokens per algorithm (every one is a cache miss), and one more per
-- algorithm that each timed session verifies first, so the key set is loaded before timing.
CREATE TABLE bench.tokens (alg text NOT NULL, n integer NOT NULL, tok text NOT NULL,
                           PRIMARY KEY (alg, n));
INSERT INTO bench.tokens
SELECT k.alg, n, auth.sign_jwt(bench.claims(n), k.kid)
FROM bench.keys k, generate_series(0, :cold_tokens) n;
CREATE TABLE bench.cold_es256 AS SELECT tok FROM bench.tokens WHERE alg = 'ES256' AND n > 0;
CREATE TABLE bench.cold_rs256 AS SELECT tok FROM bench.tokens WHERE alg = 'RS256' AND n > 0;
CREATE TABLE bench.cold_eddsa AS SELECT tok FROM bench.tokens WHERE alg = 'EdDSA' AND n > 0;
CREATE TABLE bench.cold_hs256 AS SELECT tok FROM bench.tokens WHERE alg = 'HS256' AND n > 0;
-- Item 10: as many minimal HS256 tokens (claims n, iat, exp; header alg, kid, typ).
CREATE TABLE bench.min_hs256 AS
SELECT auth.sign_jwt(jsonb_build_object('n', n), k.kid) AS tok
FROM bench.keys k, generate_series(1, :cold_tokens) n WHERE k.alg = 'HS256';

-- Item 2 and 3: the caller's own token (ES256, n = 0), in a one-row table so that md5() of it
-- is not folded into a constant at plan time.
CREATE TABLE bench.one AS
SELECT tok, auth.verify_jwt(tok)::text AS claims FROM bench.tokens WHERE alg = 'ES256' AND n = 0;

-- Item 3: 1M rows, 1% of them the caller's; no index, so every plan is a sequential scan.
CREATE TABLE bench.rls_rows (id integer NOT NULL, owner uuid NOT NULL, body text NOT NULL);
INSERT INTO bench.rls_rows
SELECT i, CASE WHEN i % 100 = 0 THEN (SELECT sub FROM bench.users) ELSE gen_random_uuid() END, 'row ' || i
FROM generate_series(1, :rls_rows) i;
ALTER TABLE bench.rls_rows ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON bench.rls_rows USING (owner = auth.uid());
GRANT SELECT ON bench.rls_rows TO authenticated;
-- Supabase's SQL uid(): request.jwt.claims, cast to jsonb on every call (inlined into the policy).
CREATE FUNCTION bench.supabase_uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(coalesce(current_setting('request.jwt.claim.sub', true),
                           (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')), '')::uuid
$$;
VACUUM (FREEZE, ANALYZE) bench.rls_rows;

-- Item 4: the table PostgREST reads, behind the same owner policy, with an index on owner as a
-- real deployment would have.
CREATE TABLE public.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner uuid NOT NULL,
                           title text NOT NULL, body text NOT NULL,
                           created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.notes (owner, title, body)
SELECT CASE WHEN i % 100 = 0 THEN (SELECT sub FROM bench.users) ELSE gen_random_uuid() END,
       'note ' || i, repeat('lorem ipsum ', 8)
FROM generate_series(1, :notes_rows) i;
CREATE INDEX notes_owner ON public.notes (owner);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON public.notes USING (owner = auth.uid());
GRANT SELECT ON public.notes TO anon, authenticated;
VACUUM (FREEZE, ANALYZE) public.notes;
-- The reference db-pre-request for item 4: does nothing, in the shape of auth.pre_request.
CREATE FUNCTION public.bench_empty_pre_request() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ BEGIN END $$;

\if :have_pgcrypto
\ir sql_hs256_verify.sql
\endif
