-- The baseline of item 4: the same PostgREST 12 request as postgrest_pre_request.sql, without
-- db-pre-request (RLS still calls auth.uid(), which verifies the bearer token of
-- request.headers).
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
select set_config('search_path', :search_path, true), set_config('role', :role, true), set_config('request.jwt.claims', :claims, true), set_config('request.method', :method, true), set_config('request.path', :path, true), set_config('request.headers', :headers, true), set_config('request.cookies', :cookies, true);
WITH pgrst_source AS ( SELECT "public"."notes".* FROM "public"."notes" LIMIT :limit OFFSET :offset ) SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]') AS body, nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status, '' AS response_inserted FROM ( SELECT * FROM pgrst_source ) _postgrest_t;
COMMIT;
