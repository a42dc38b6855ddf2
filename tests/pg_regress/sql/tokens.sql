-- Tokens: signing, strict verification, inspect_jwt, verify_jws.
\getenv abs_srcdir PG_ABS_SRCDIR
\set fresh :abs_srcdir '/include/fresh.psql'
\i :fresh
\i :es1_in_use
SET auth.jwt_max_lifetime = '1h';

-- sign_jwt adds iat and exp (now + auth.jwt_max_lifetime) and the in_use key's kid.
SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}') AS token \gset
SELECT auth.inspect_jwt(:'token') -> 'header' AS header;
SELECT claims - 'iat' - 'exp' AS claims, (claims->>'exp')::bigint - (claims->>'iat')::bigint AS lifetime
FROM auth.verify_jwt(:'token') AS claims;
SELECT convert_from(auth.verify_jws(:'token'), 'UTF8')::jsonb ->> 'sub' AS jws_payload_sub;

-- Refusals: SQLSTATE 28000 with the reason; try_verify_jwt gives NULL instead.
\set VERBOSITY sqlstate
SELECT auth.verify_jwt('not-a-token');
\set VERBOSITY default
SELECT auth.verify_jwt('not-a-token');
SELECT auth.verify_jwt('a.b.c.d');
-- {"alg":"none"}, unsigned and with a made-up signature
SELECT auth.verify_jwt('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.');
SELECT auth.verify_jwt('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.AAAA');
-- {"alg":"ES256","kid":"es-1","crit":["exp"]}
SELECT auth.verify_jwt('eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzLTEiLCJjcml0IjpbImV4cCJdfQ.eyJzdWIiOiJ4In0.AAAA');
-- {"alg":"ES256","kid":"nobody"}
SELECT auth.verify_jwt('eyJhbGciOiJFUzI1NiIsImtpZCI6Im5vYm9keSJ9.eyJzdWIiOiJ4In0.AAAA');
-- {"alg":"HS256","kid":"es-1"}: an HMAC over the public key's bytes (algorithm confusion)
SELECT auth.verify_jwt('eyJhbGciOiJIUzI1NiIsImtpZCI6ImVzLTEifQ.eyJzdWIiOiJ4In0.AAAA');
SELECT auth.verify_jwt(repeat('a', 20000));
SELECT auth.try_verify_jwt('a.b.c') IS NULL AS try_gives_null;
SELECT auth.inspect_jwt(auth.sign_jwt('{"sub":"x","exp":1000}')) - 'header' - 'claims_unverified' AS expired;
SELECT auth.inspect_jwt(auth.sign_jwt('{"sub":"x","role":"postgres"}')) ->> 'reason' AS role_postgres;
SELECT auth.inspect_jwt(auth.sign_jwt('{"sub":"x","nbf":99999999999}')) ->> 'reason' AS not_before;
SELECT auth.inspect_jwt(auth.sign_jwt('{"sub":"x","exp":"never"}')) ->> 'reason' AS exp_string;

-- A forged payload under a real signature.
SELECT auth.inspect_jwt(split_part(:'token', '.', 1) || '.' ||
       rtrim(translate(encode(convert_to('{"sub":"22222222-2222-2222-2222-222222222222","role":"authenticated","exp":99999999999}', 'UTF8'), 'base64'), E'+/\n', '-_'), '=')
       || '.' || split_part(:'token', '.', 3)) - 'header' AS forged;

-- Audience and issuer, when configured.
SET auth.audience = 'my-api';
SELECT auth.inspect_jwt(:'token') ->> 'reason' AS without_aud;
SELECT auth.verify_jwt(auth.sign_jwt('{"sub":"x","aud":["other","my-api"]}')) ->> 'sub' AS aud_in_array;
RESET auth.audience;
SET auth.issuer = 'https://issuer.example';
SELECT auth.inspect_jwt(auth.sign_jwt('{"sub":"x","iss":["https://issuer.example"]}')) ->> 'reason' AS iss_array;
RESET auth.issuer;
