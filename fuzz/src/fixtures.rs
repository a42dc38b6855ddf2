//! Fixed keys for the targets, one signing key per algorithm, built once per process.
//!
//! They are the repository's test-vector keys where there is one — the Wycheproof JWS groups'
//! private JWKs (HS256, ES256, RS256 and RS/PS 256–512), the RFC 8037 Ed25519 key — so that the
//! Wycheproof and RFC tokens in the corpus reach real signature checks; HS384 and HS512 use fixed
//! secrets, and ES384 a P-384 key made once with `openssl genpkey` for this file (no vector has
//! one). Fixed keys keep every crash reproducible from its input alone.

use pg_auth_keys_core::{
    import_jwk, import_pem, Alg, ClaimRules, PreparedKey, RoleClaim, RoleList, SigningKey,
};
use serde_json::Value;
use std::sync::OnceLock;

/// `auth.max_token_bytes`' default (API.md §6).
pub const MAX_TOKEN_BYTES: usize = 16384;

const WYCHEPROOF_JWS: &str =
    include_str!("../../tests/vectors/wycheproof/json_web_signature_test.json");
const RFC_EXAMPLES: &str = include_str!("../../tests/vectors/rfc/rfc7515_appendixA_rfc8037.json");

/// A throwaway P-384 key (test fixture only).
const ES384_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAEnPuKKaEERa9ecSzg
meJgRvm7E41BH9C5cPuXnAI1ktpsVn5RVsGBJkxWQXN3aAGhZANiAASGtffnmNo9
tMYAPlxKH/0ltIqTjE9dX6IY0YcgbRYa2gtn8dizvmRRQgzRPzvLJg5t/qT2Zc7a
irje1IaL71fuFOA8Aaade7CQ129+RyWPoz4CYdDf/LEs3Sjiqaul/AY=
-----END PRIVATE KEY-----
";

/// A signing key with the `kid` its tokens carry.
pub struct Fixture {
    pub kid: String,
    pub key: SigningKey,
    pub prepared: PreparedKey,
}

pub struct Fixtures {
    /// One per algorithm, in [`Alg::ALL`] order.
    pub keys: Vec<Fixture>,
    /// The claim rules every parsed token is checked against.
    pub rules: Vec<ClaimRules>,
}

impl Fixtures {
    pub fn key(&self, alg: Alg) -> &Fixture {
        &self.keys[Alg::ALL.iter().position(|&a| a == alg).unwrap()]
    }
}

fn fixture(kid: &str, key: SigningKey) -> Fixture {
    let prepared = key.verify_key().prepare();
    Fixture {
        kid: kid.to_owned(),
        key,
        prepared,
    }
}

fn build() -> Fixtures {
    let mut found: Vec<Option<Fixture>> = Alg::ALL.iter().map(|_| None).collect();
    let mut put = |alg: Alg, f: Fixture| {
        let slot = &mut found[Alg::ALL.iter().position(|&a| a == alg).unwrap()];
        if slot.is_none() {
            *slot = Some(f);
        }
    };

    let doc: Value = serde_json::from_str(WYCHEPROOF_JWS).expect("Wycheproof JWS vectors");
    for group in doc["testGroups"].as_array().expect("testGroups") {
        let Ok(imported) = import_jwk(&group["private"]) else {
            continue; // P-521, encryption keys: outside the contract
        };
        if let Some(key) = imported.signing {
            let kid = imported
                .kid
                .unwrap_or_else(|| key.alg().as_str().to_owned());
            put(key.alg(), fixture(&kid, key));
        }
    }
    let doc: Value = serde_json::from_str(RFC_EXAMPLES).expect("RFC examples");
    for example in doc["examples"].as_array().expect("examples") {
        if example["alg"] == "EdDSA" {
            let key = import_jwk(&example["jwk"]).expect("RFC 8037 key");
            put(Alg::EdDSA, fixture("rfc8037", key.signing.expect("d")));
        }
    }
    put(
        Alg::HS384,
        fixture(
            "hs384",
            SigningKey::from_private(Alg::HS384, &[0x38; 48]).unwrap(),
        ),
    );
    put(
        Alg::HS512,
        fixture(
            "hs512",
            SigningKey::from_private(Alg::HS512, &[0x51; 64]).unwrap(),
        ),
    );
    let es384 = import_pem(ES384_PEM, Alg::ES384).expect("ES384 fixture");
    put(Alg::ES384, fixture("es384", es384.signing.unwrap()));

    let keys: Vec<Fixture> = found
        .into_iter()
        .zip(Alg::ALL)
        .map(|(f, alg)| f.unwrap_or_else(|| panic!("no fixture key for {alg}")))
        .collect();

    let rules = vec![
        ClaimRules::with_defaults(1_700_000_000),
        ClaimRules {
            now: 1_700_000_000,
            leeway: 0,
            audience: Some("authenticated".into()),
            issuer: Some("https://issuer.example".into()),
            role_claim: RoleClaim::parse(".role").expect("a path"),
            allowed_roles: RoleList::parse("authenticated"),
        },
        ClaimRules {
            now: i64::MAX,
            leeway: i64::MAX,
            audience: Some(String::new()),
            issuer: Some(String::new()),
            role_claim: RoleClaim::parse(".app_metadata.roles[1]").expect("a path"),
            allowed_roles: RoleList::default(),
        },
        ClaimRules {
            now: i64::MIN,
            leeway: i64::MIN,
            audience: None,
            issuer: None,
            role_claim: RoleClaim::parse("exp").expect("a name"),
            allowed_roles: [""].into_iter().collect(),
        },
    ];
    Fixtures { keys, rules }
}

/// The fixtures, built on first use.
pub fn get() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}
