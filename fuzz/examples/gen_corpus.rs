//! Writes the seed corpus, fuzz/corpus/<target>/<name>: tokens signed with the fixture keys,
//! Wycheproof and RFC tokens and keys from tests/vectors, PEM and DER forms of the fixture keys,
//! API keys from `generate_api_key`, and edge cases. Files are overwritten, others (the
//! `regress-*` inputs that once crashed a target) are left alone.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//!
//! ECDSA signatures and generated API keys are random, so a rerun rewrites those files with
//! other (equally good) contents.

use pg_auth_keys_core::{
    b64url_decode, b64url_encode, generate_api_key, sign_compact, Alg, ApiKeyKind,
};
use pg_auth_keys_fuzz::jwk::pem_text;
use pg_auth_keys_fuzz::{fixtures, seed};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Out {
    dir: PathBuf,
    count: usize,
}

impl Out {
    fn new(root: &Path, target: &str) -> Out {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        Out { dir, count: 0 }
    }

    fn put(&mut self, name: &str, bytes: impl AsRef<[u8]>) {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(self.dir.join(name), bytes).unwrap();
        self.count += 1;
    }
}

fn read_json(repo: &Path, rel: &str) -> Value {
    let text = std::fs::read_to_string(repo.join("tests/vectors").join(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---- DER, just enough to write SubjectPublicKeyInfo and PKCS#1 public keys ----------------------

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

fn uint(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if v.first().is_some_and(|&b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    tlv(0x02, &v)
}

fn bits(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn rsa_public_pkcs1(n: &[u8], e: &[u8]) -> Vec<u8> {
    seq(&[uint(n), uint(e)])
}

fn spki(alg: Alg, key: &pg_auth_keys_core::VerifyKey) -> Vec<u8> {
    match alg {
        Alg::ES256 | Alg::ES384 => {
            let curve = if alg == Alg::ES256 {
                OID_P256
            } else {
                OID_P384
            };
            seq(&[
                seq(&[tlv(0x06, OID_EC), tlv(0x06, curve)]),
                bits(key.bytes()),
            ])
        }
        Alg::EdDSA => seq(&[seq(&[tlv(0x06, OID_ED25519)]), bits(key.bytes())]),
        _ => {
            let (n, e) = key.rsa_components().unwrap();
            seq(&[
                seq(&[tlv(0x06, OID_RSA), tlv(0x05, &[])]),
                bits(&rsa_public_pkcs1(n, e)),
            ])
        }
    }
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo (minimal DER reader).
fn pkcs8_inner(der: &[u8]) -> Vec<u8> {
    fn read(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (b[0], b[1]);
        let (len, hdr) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            let len = b[2..2 + n]
                .iter()
                .fold(0usize, |a, &x| a << 8 | usize::from(x));
            (len, 2 + n)
        };
        (tag, &b[hdr..hdr + len], &b[hdr + len..])
    }
    let (_, info, _) = read(der);
    let (_, _version, rest) = read(info);
    let (_, _alg, rest) = read(rest);
    let (tag, key, _) = read(rest);
    assert_eq!(tag, 0x04);
    key.to_vec()
}

fn main() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = fuzz_dir.parent().unwrap();
    let root = fuzz_dir.join("corpus");
    let fx = fixtures::get();
    let claims = json!({
        "sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated",
        "aud": "authenticated", "iss": "https://issuer.example",
        "iat": 1_700_000_000, "nbf": 1_699_999_999, "exp": 4_000_000_000u64,
    });
    let claims_map = claims.as_object().unwrap();

    // ---- token --------------------------------------------------------------------------------
    let mut out = Out::new(&root, "token");
    for f in &fx.keys {
        let alg = f.key.alg();
        out.put(
            &format!("valid-{alg}"),
            sign_compact(&f.key, &f.kid, claims_map).unwrap(),
        );
        let header = json!({"alg": alg.as_str(), "kid": f.kid, "typ": "JWT"}).to_string();
        out.put(
            &format!("signed-{alg}"),
            seed::token_signed(alg, header.as_bytes(), claims.to_string().as_bytes()),
        );
    }
    let hs = r#"{"alg":"HS256","typ":"JWT"}"#.as_bytes();
    let payload = claims.to_string();
    let p = payload.as_bytes();
    for (name, parts) in [
        ("parts-ok-shape", vec![hs, p, &[7u8; 32][..]]),
        (
            "parts-crit",
            vec![br#"{"alg":"HS256","crit":["exp"],"exp":1}"#, p, b"s"],
        ),
        (
            "parts-jwk",
            vec![br#"{"alg":"ES256","jwk":{"kty":"EC"}}"#, p, b"s"],
        ),
        (
            "parts-b64-false",
            vec![br#"{"alg":"HS256","b64":false}"#, p, b"s"],
        ),
        (
            "parts-dup-alg",
            vec![br#"{"alg":"HS256","alg":"none"}"#, p, b"s"],
        ),
        ("parts-alg-none", vec![br#"{"alg":"none"}"#, p, b"s"]),
        (
            "parts-jwe-5",
            vec![
                br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
                b"k",
                b"iv",
                b"ct",
                b"tag",
            ],
        ),
        ("parts-2", vec![hs, p]),
    ] {
        out.put(name, seed::token_parts(&parts));
    }
    // Signed by the fixture, with claims that each rule set refuses for another reason.
    for (name, c) in [
        ("claims-no-exp", json!({"sub": "x"})),
        ("claims-exp-string", json!({"exp": "9999999999"})),
        (
            "claims-exp-float",
            json!({"exp": 1.0e300, "nbf": -1.5, "iat": 0.5}),
        ),
        (
            "claims-aud-array",
            json!({"exp": 4e9, "aud": ["a", "authenticated"], "iss": 7}),
        ),
        (
            "claims-role-obj",
            json!({"exp": 4e9, "role": {"x": 1}, "": "anon"}),
        ),
    ] {
        out.put(
            name,
            seed::token_signed(Alg::HS256, hs, c.to_string().as_bytes()),
        );
    }
    for (name, text) in [
        ("edge-empty", ""),
        ("edge-dots", ".."),
        ("edge-abc", "a.b.c"),
        ("edge-padding", "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln"),
        ("edge-whitespace", " eyJhbGciOiJIUzI1NiJ9.e30.c2ln"),
    ] {
        out.put(name, text);
    }
    let rfc = read_json(repo, "rfc/rfc7515_appendixA_rfc8037.json");
    for e in rfc["examples"].as_array().unwrap() {
        out.put(e["id"].as_str().unwrap(), e["compact"].as_str().unwrap());
    }
    let wp = read_json(repo, "wycheproof/json_web_signature_test.json");
    let mut flags_seen = BTreeSet::new();
    for group in wp["testGroups"].as_array().unwrap() {
        for (ti, case) in group["tests"].as_array().unwrap().iter().enumerate() {
            let Some(jws) = case["jws"].as_str() else {
                continue;
            };
            let flag = case["flags"][0].as_str().unwrap_or("").to_owned();
            // The first case of every group, and the first case of every flag.
            if ti == 0 || flags_seen.insert(flag) {
                out.put(&format!("wycheproof-{}", case["tcId"]), jws);
            }
        }
    }
    println!("token: {} files", out.count);

    // ---- jwk ----------------------------------------------------------------------------------
    let mut out = Out::new(&root, "jwk");
    let wk = read_json(repo, "wycheproof/json_web_key_test.json");
    let mut texts = BTreeSet::new();
    for group in wk["testGroups"].as_array().unwrap() {
        let text = serde_json::to_string(&group["private"]).unwrap();
        if texts.insert(text.clone()) {
            let id = &group["tests"][0]["tcId"];
            out.put(&format!("wycheproof-jwks-{id}"), text);
        }
    }
    for entry in std::fs::read_dir(repo.join("tests/vectors/rfc/rfc7520_cookbook/jwk")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.put(&format!("rfc7520-{name}"), std::fs::read(&path).unwrap());
    }
    let mut public = Vec::new();
    for f in &fx.keys {
        let alg = f.key.alg();
        let v = f.key.verify_key();
        if let Some(jwk) = v.public_jwk(&f.kid) {
            out.put(&format!("public-{alg}"), jwk.to_string());
            public.push(jwk);
        }
        if matches!(alg, Alg::ES256 | Alg::ES384 | Alg::EdDSA | Alg::RS256) {
            let der = spki(alg, v);
            out.put(&format!("pem-spki-{alg}"), pem_text("PUBLIC KEY", &der));
            out.put(&format!("der-spki-{alg}"), seed::jwk_pem(4, alg, &der));
            let private = f.key.private_bytes();
            let label = if alg == Alg::RS256 {
                "RSA PRIVATE KEY"
            } else {
                "PRIVATE KEY"
            };
            out.put(&format!("pem-private-{alg}"), pem_text(label, private));
            out.put(
                &format!("der-private-{alg}"),
                seed::jwk_pem(if alg == Alg::RS256 { 2 } else { 0 }, alg, private),
            );
            out.put(
                &format!("storage-private-{alg}"),
                seed::jwk_storage(alg, private),
            );
        }
        out.put(
            &format!("storage-public-{alg}"),
            seed::jwk_storage(alg, v.bytes()),
        );
    }
    out.put("jwks-public", json!({ "keys": public }).to_string());
    let es256 = fx.key(Alg::ES256).key.private_bytes();
    let sec1 = pkcs8_inner(es256);
    out.put(
        "pem-sec1-ES256",
        format!(
            "{}{}",
            pem_text("EC PARAMETERS", &tlv(0x06, OID_P256)),
            pem_text("EC PRIVATE KEY", &sec1)
        ),
    );
    out.put("der-sec1-ES256", seed::jwk_pem(1, Alg::ES256, &sec1));
    let rs = fx.key(Alg::RS256).key.verify_key();
    let (n, e) = rs.rsa_components().unwrap();
    out.put(
        "pem-pkcs1-public-RS256",
        pem_text("RSA PUBLIC KEY", &rsa_public_pkcs1(n, e)),
    );
    out.put(
        "pem-encrypted",
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n",
    );
    out.put(
        "pem-mismatched-end",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );

    // Structured JWKs from the members of the vector keys (indexes into jwk::KTYS / ALGS).
    let member = |jwk: &Value, name: &str| b64url_decode(jwk[name].as_str().unwrap()).unwrap();
    let ec = &wp["testGroups"][1]["private"]; // kid-ec-sign, P-256
    let (x, y, d) = (member(ec, "x"), member(ec, "y"), member(ec, "d"));
    out.put(
        "built-ec-public",
        seed::jwk_built(1, 10, 1 | 2, &[&x, &y], false),
    );
    out.put(
        "built-ec-private",
        seed::jwk_built(1, 0, 1 | 8, &[&x, &y, &d], false),
    );
    out.put(
        "built-ec-set-mixed",
        seed::jwk_built(1, 10, 1 | 64, &[&x, &y, &d], true),
    );
    let ed = &rfc["examples"][5]["jwk"];
    let (x, d) = (member(ed, "x"), member(ed, "d"));
    out.put(
        "built-ed25519-private",
        seed::jwk_built(3, 12, 0, &[&x, &d], false),
    );
    let rsa = &wp["testGroups"][2]["private"]; // kid-rsa-sign
    let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
    let m: Vec<Vec<u8>> = names.iter().map(|n| member(rsa, n)).collect();
    let refs: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
    out.put(
        "built-rsa-public",
        seed::jwk_built(0, 7, 1, &refs[..2], false),
    );
    out.put(
        "built-rsa-private",
        seed::jwk_built(0, 4, 1 | 2, &refs, false),
    );
    out.put("built-oct", seed::jwk_built(4, 2, 1, &[&[0x38; 48]], false));
    out.put(
        "built-oct-set",
        seed::jwk_built(4, 0, 1 | 64, &[&[0x11; 32]], true),
    );
    println!("jwk: {} files", out.count);

    // ---- api_key ------------------------------------------------------------------------------
    let mut out = Out::new(&root, "api_key");
    for kind in [ApiKeyKind::Publishable, ApiKeyKind::Secret] {
        let k = generate_api_key(kind).full;
        out.put(&format!("valid-{}", kind.as_str()), &k);
        let mut bad = k.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        out.put(&format!("bad-checksum-{}", kind.as_str()), bad);
        out.put(&format!("truncated-{}", kind.as_str()), &k[..k.len() - 1]);
        out.put(&format!("extra-{}", kind.as_str()), format!("{k}0"));
        let body = &k[kind.prefix().len()..kind.prefix().len() + 32];
        out.put(
            &format!("body-{}", kind.as_str()),
            seed::api_key_body(kind, body.as_bytes()),
        );
    }
    for (name, text) in [
        (
            "upper-prefix",
            "SB_SECRET_0123456789abcdefghijABCDEFGHIJ01000000",
        ),
        (
            "unknown-prefix",
            "sb_anon_0123456789abcdefghijABCDEFGHIJ01000000",
        ),
        ("empty", ""),
        ("prefix-only", "sb_publishable_"),
        ("unicode", "sb_secret_ééééééééééééééééééééééééééééééééé"),
    ] {
        out.put(name, text);
    }
    out.put(
        "body-underscore",
        seed::api_key_body(ApiKeyKind::Secret, b"0123456789_bcdefghijABCDEFGHIJ01"),
    );
    out.put(
        "body-unicode",
        seed::api_key_body(
            ApiKeyKind::Publishable,
            "0123456789abcdefghijABCDEFGHIé".as_bytes(),
        ),
    );
    println!("api_key: {} files", out.count);

    // ---- json ---------------------------------------------------------------------------------
    let mut out = Out::new(&root, "json");
    let deep = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    for (name, text) in [
        (
            "header",
            r#"{"alg":"ES256","kid":"k-1","typ":"JWT"}"#.to_owned(),
        ),
        ("claims", claims.to_string()),
        ("dup-top", r#"{"alg":"ES256","alg":"none"}"#.to_owned()),
        (
            "dup-escaped",
            r#"{"alg":"ES256","\u0061lg":"none"}"#.to_owned(),
        ),
        ("dup-nested", r#"{"x":{"a":1,"a":1}}"#.to_owned()),
        ("dup-in-array", r#"{"x":[{"a":1,"a":2}]}"#.to_owned()),
        ("dup-array-top", r#"[{"a":1,"a":2}]"#.to_owned()),
        ("surrogate-lone", r#"{"a":"\ud800"}"#.to_owned()),
        ("surrogate-pair", r#"{"a":"\ud83d\ude00"}"#.to_owned()),
        (
            "numbers",
            r#"{"a":123456789012345678901234567890,"b":-0,"c":1.5e3,"d":1e400}"#.to_owned(),
        ),
        (
            "numbers-ok",
            r#"{"a":18446744073709551615,"b":-9223372036854775808,"c":5e-324}"#.to_owned(),
        ),
        (
            "exponents",
            r#"{"a":1e-9223372036854775808,"b":0.5E+9223372036854775807,"c":-0.0e-5}"#.to_owned(),
        ),
        ("deep-127", deep(127)),
        ("deep-129", deep(129)),
        ("array", "[1,2,3]".to_owned()),
        ("string", "\"x\"".to_owned()),
        ("empty", String::new()),
        ("trailing", "{} {}".to_owned()),
        ("whitespace", " {\r\n\t} ".to_owned()),
        (
            "escapes",
            r#"{"\"\\\/\b\f\n\r\t":"\u0000\u001f"}"#.to_owned(),
        ),
    ] {
        out.put(name, text);
    }
    out.put("bom", b"\xef\xbb\xbf{}");
    out.put("invalid-utf8", b"{\"a\":\"\xff\"}");
    println!("json: {} files", out.count);

    // ---- b64 ----------------------------------------------------------------------------------
    let mut out = Out::new(&root, "b64");
    for (name, text) in [
        ("foo", "Zm9v"),
        ("fo", "Zm8"),
        ("f", "Zg"),
        ("empty", ""),
        ("url-chars", "-_8"),
        ("padded", "Zm8="),
        ("standard-alphabet", "+/8"),
        ("trailing-bits-2", "Zh"),
        ("trailing-bits-3", "Zm9"),
        ("len-1-mod-4", "Zm9vY"),
        ("whitespace", "Zm 9v"),
    ] {
        out.put(name, text);
    }
    out.put("sig-es256", b64url_encode(&[0xa5; 64]));
    println!("b64: {} files", out.count);

    // ---- seal ---------------------------------------------------------------------------------
    let mut out = Out::new(&root, "seal");
    let id = b"00000000-0000-4000-8000-000000000002";
    let secret = generate_api_key(ApiKeyKind::Secret).full;
    let key = pg_auth_keys_core::Kek::derive(b"fuzz root key: 32 bytes or more!").unwrap();
    let sealed = key
        .seal(pg_auth_keys_core::Purpose::ApiKey, id, secret.as_bytes())
        .unwrap();
    out.put(
        "sealed-secret-v2",
        [&id[..], &[pg_auth_keys_fuzz::SEP], &sealed].concat(),
    );
    out.put(
        "plain-secret",
        [&id[..], &[pg_auth_keys_fuzz::SEP], secret.as_bytes()].concat(),
    );
    out.put("empty", b"");
    out.put("short", b"\x01\x02\x03");
    out.put("root-key-32", b"0123456789abcdef0123456789abcdef");
    println!("seal: {} files", out.count);
}
