-- The baseline of item 5: HS256 verification written in SQL on pgcrypto's hmac(), the approach
-- of the PL/pgSQL JWT libraries (pgjwt and its forks). Written for this benchmark; it does what
-- such a verify() does, in the same way:
--   split the token on '.', base64url-decode header and payload with translate() + padding +
--   decode(), recompute HMAC-SHA256 over "header.payload" with hmac(), base64url-encode it and
--   compare the text with the third segment, parse both JSON segments, and check the time
--   claims against the statement's clock.
-- It answers like auth.verify_jwt: the claims as jsonb when valid, NULL otherwise. It checks less
-- than auth.verify_jwt (no canonical-base64 or duplicate-member checks, no kid, no role), which
-- only makes the comparison kinder to it. Unlike pgjwt's verify it is STABLE, not IMMUTABLE.

CREATE FUNCTION bench.b64url_decode(data text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT decode(translate(data, '-_', '+/') || repeat('=', (4 - length(data) % 4) % 4), 'base64')
$$;

CREATE FUNCTION bench.b64url_encode(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT rtrim(translate(encode(data, 'base64'), E'+/\n', '-_'), '=')
$$;

CREATE FUNCTION bench.hs256_sign(signing_input text, secret bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT bench.b64url_encode(hmac(convert_to(signing_input, 'UTF8'), secret, 'sha256'))
$$;

CREATE FUNCTION bench.sql_verify_hs256(token text, secret bytea) RETURNS jsonb
LANGUAGE sql STABLE STRICT AS $$
    SELECT CASE
               WHEN t.header ->> 'alg' = 'HS256' AND t.signature_ok
                    AND tstzrange(to_timestamp((t.payload ->> 'nbf')::double precision),
                                  to_timestamp((t.payload ->> 'exp')::double precision))
                        @> current_timestamp
               THEN t.payload
           END
    FROM (
        SELECT convert_from(bench.b64url_decode(part[1]), 'UTF8')::jsonb AS header,
               convert_from(bench.b64url_decode(part[2]), 'UTF8')::jsonb AS payload,
               part[3] = bench.hs256_sign(part[1] || '.' || part[2], secret) AS signature_ok
        FROM regexp_split_to_array(token, '\.') AS part
        WHERE cardinality(part) = 3
    ) t
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bench TO PUBLIC;
