//! Interoperability with an independent JOSE implementation (PyJWT, installed by
//! scripts/setup.sh into build/venv): its tokens verify here, and tokens signed here verify
//! there against `auth.jwks()`.

use pg_auth_keys_cluster_tests::pyjwt::{run_python, scratch};
use pg_auth_keys_cluster_tests::Cluster;
use serde_json::Value;

#[test]
fn pyjwt_tokens_verify_here() {
    let dir = scratch("in");
    run_python(&["make", dir.to_str().unwrap()]);
    let keys: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("keys.json")).unwrap()).unwrap();
    let tokens: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokens.json")).unwrap()).unwrap();
    let cluster = Cluster::start("interop-in");
    let mut client = cluster.connect();
    client
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .unwrap();
    for key in &keys {
        let kid: String = client
            .query_one(
                "SELECT auth.import_key($1::text::jsonb)",
                &[&key.to_string()],
            )
            .expect("import PyJWT's public JWK")
            .get(0);
        assert_eq!(Some(kid.as_str()), key["kid"].as_str());
    }
    for (token, alg) in tokens.iter().zip(["ES256", "RS256", "EdDSA"]) {
        let sub: String = client
            .query_one("SELECT auth.verify_jwt($1) ->> 'sub'", &[token])
            .unwrap_or_else(|e| panic!("PyJWT's {alg} token refused: {e:?}"))
            .get(0);
        assert_eq!(sub, format!("sub-{alg}"));
        // One changed byte of the payload: refused.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        let tampered = parts.join(".");
        let refused: Option<String> = client
            .query_one("SELECT auth.try_verify_jwt($1)::text", &[&tampered])
            .unwrap()
            .get(0);
        assert!(refused.is_none(), "tampered {alg} token accepted");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn tokens_signed_here_verify_in_pyjwt() {
    let cluster = Cluster::start_with_conf("interop-out", &["auth.jwks_cache_ttl = 0"]);
    let mut client = cluster.connect();
    client
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .unwrap();
    let mut tokens = Vec::new();
    for alg in ["ES256", "RS256", "EdDSA"] {
        let kid: String = client
            .query_one("SELECT auth.create_key($1)", &[&alg])
            .unwrap()
            .get(0);
        let token: String = client
            .query_one(
                "SELECT auth.sign_jwt(json_build_object('sub', $1::text, 'role', 'anon')::jsonb, $2)",
                &[&format!("sub-{alg}"), &kid],
            )
            .unwrap()
            .get(0);
        tokens.push(token);
    }
    let jwks: String = client
        .query_one("SELECT auth.jwks()::text", &[])
        .unwrap()
        .get(0);
    let dir = scratch("out");
    std::fs::write(dir.join("jwks.json"), jwks).unwrap();
    std::fs::write(
        dir.join("tokens.json"),
        serde_json::to_string(&tokens).unwrap(),
    )
    .unwrap();
    let out = run_python(&[
        "verify",
        dir.join("jwks.json").to_str().unwrap(),
        dir.join("tokens.json").to_str().unwrap(),
    ]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, alg) in lines.iter().zip(["ES256", "RS256", "EdDSA"]) {
        assert_eq!(line["alg"], alg);
        assert_eq!(line["claims"]["sub"], format!("sub-{alg}"));
    }
    std::fs::remove_dir_all(dir).ok();
}
