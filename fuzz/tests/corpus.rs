//! Every checked-in corpus file through its target's function, without libFuzzer: a plain
//! `cargo test` (stable, no sanitizer) that keeps the corpus and the targets in step and
//! replays the `regress-*` inputs of fixed bugs.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: {} panicked", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
}

#[test]
fn token() {
    replay("token", pg_auth_keys_fuzz::token::run);
}

#[test]
fn jwk() {
    replay("jwk", pg_auth_keys_fuzz::jwk::run);
}

#[test]
fn api_key() {
    replay("api_key", pg_auth_keys_fuzz::api_key::run);
}

#[test]
fn json() {
    replay("json", pg_auth_keys_fuzz::json::run);
}

#[test]
fn b64() {
    replay("b64", pg_auth_keys_fuzz::b64::run);
}

#[test]
fn role_claim() {
    replay("role_claim", pg_auth_keys_fuzz::role_claim::run);
}

#[test]
fn seal() {
    replay("seal", pg_auth_keys_fuzz::seal::run);
}

#[test]
fn revocation() {
    replay("revocation", pg_auth_keys_fuzz::revocation::run);
}

#[test]
fn issuer() {
    replay("issuer", pg_auth_keys_fuzz::issuer::run);
}
