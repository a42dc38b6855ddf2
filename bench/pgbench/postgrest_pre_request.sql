-- One PostgREST 12 request, GET /notes?limit=10 with a bearer JWT and an apikey header, as the
-- SQL it sends (prepared statements, run with pgbench -M prepared; :variables are parameters,
-- set by bench/run.sh with -D). db-pre-request = auth.pre_request.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
select set_config('search_path', :search_path, true), set_config('role', :role, true), set_config('request.jwt.claims', :claims, true), set_config('request.method', :method, true), set_config('request.path', :path, true), set_config('request.headers', :headers, true), set_config('request.cookies', :cookies, true);
select "auth"."pre_request"();
WITH pgrst_source AS ( SELECT "public"."notes".* FROM "public"."notes" LIMIT :limit OFFSET :offset ) SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]') AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status, '' AS response_inserted FROM ( SELECT * FROM pgrst_source ) _postgrest_t;
COMMIT;
