//! The verified-token cache answers a hit as the first verification answered: an entry keeps
//! only the jsonb and the few members the checks read (src/verified.rs), and whatever else is
//! asked of a cached token (another `auth.role_claim`, `auth.email()`, `auth.authenticate`'s
//! result, a revocation by session after the token was cached) comes from its claims parsed again.

use pg_auth_keys_cluster_tests::{text, Client, Cluster};

const SUB: &str = "5f8a2c1e-3b7d-4e9a-8c6f-1d2e3f4a5b6c";

fn hits(c: &mut Client) -> i64 {
    text(c, "SELECT auth.stats() ->> 'token_cache_hits'")
        .parse()
        .unwrap()
}

#[test]
fn a_cache_hit_answers_as_the_first_verification() {
    let cluster = Cluster::start_with_conf("token-cache", &["auth.jwks_cache_ttl = 0"]);
    let mut c = cluster.connect();
    c.batch_execute("CREATE EXTENSION pg_auth_keys").unwrap();
    c.query_one("SELECT auth.rotate_key(auth.create_key())", &[])
        .unwrap();
    // Members the entry keeps (sub, role, aud, session_id, exp, iat) and members it does not
    // (email, a nested object, numbers in forms jsonb prints otherwise).
    let claims = format!(
        r#"{{"sub":"{SUB}","role":"authenticated","aud":"authenticated","email":"a@example.com",
            "session_id":"s-1","app_metadata":{{"r":"anon","providers":["email"]}},
            "n":1.50,"big":1e3}}"#
    );
    let token = text(&mut c, &format!("SELECT auth.sign_jwt('{claims}'::jsonb)"));
    let verify = format!("SELECT auth.verify_jwt('{token}')::text");
    let first = text(&mut c, &verify);
    let h0 = hits(&mut c);
    assert_eq!(text(&mut c, &verify), first, "a hit gives other claims");
    let bound = text(
        &mut c,
        &format!("SELECT auth.authenticate('{token}', false)::text"),
    );
    assert_eq!(bound, first, "authenticate on a hit gives other claims");
    assert!(
        hits(&mut c) >= h0 + 2,
        "the calls above were not cache hits"
    );

    let row = c
        .query_one(
            "SELECT auth.uid()::text, auth.role(), auth.email(), auth.claims()::text",
            &[],
        )
        .unwrap();
    let (uid, role, email, all): (String, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (uid.as_str(), role.as_str(), email.as_str(), all.as_str()),
        (SUB, "authenticated", "a@example.com", first.as_str())
    );

    // A role claim path the entry was not made under: read from the claims parsed again.
    c.batch_execute("SET auth.role_claim = '.app_metadata.r'")
        .unwrap();
    assert_eq!(text(&mut c, "SELECT auth.role()"), "anon");
    assert_eq!(text(&mut c, &verify), first);
    c.batch_execute("SET auth.role_claim = '.app_metadata'")
        .unwrap();
    let refused = c.query_one(&verify, &[]).unwrap_err();
    assert_eq!(refused.code().unwrap().code(), "28000", "{refused}");
    c.batch_execute("RESET auth.role_claim").unwrap();
    assert_eq!(text(&mut c, &verify), first);

    // Revoked by its session after it was cached: the next statement refuses it.
    c.query_one("SELECT auth.revoke_session('s-1')", &[])
        .unwrap();
    let refused = c.query_one(&verify, &[]).unwrap_err();
    assert_eq!(refused.code().unwrap().code(), "28000", "{refused}");
    let message = refused
        .as_db_error()
        .map(|e| e.message())
        .unwrap_or_default();
    assert!(
        message.contains("revoked"),
        "refused for another reason: {message}"
    );
}
