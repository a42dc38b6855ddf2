//! Writers of the structured input forms (the inverse of the targets' decoding), for the corpus
//! generator and the tests.

use crate::{SEP, STRUCTURED};
use pg_auth_keys_core::{Alg, ApiKeyKind};

fn alg_index(alg: Alg) -> u8 {
    Alg::ALL.iter().position(|&a| a == alg).unwrap() as u8
}

fn joined(first: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![first];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        out.extend_from_slice(p);
    }
    out
}

/// `token`: the parts base64url-encoded and joined with `.`.
pub fn token_parts(parts: &[&[u8]]) -> Vec<u8> {
    joined(STRUCTURED, parts)
}

/// `token`: header and payload, signed with the fixture key for `alg`.
pub fn token_signed(alg: Alg, header: &[u8], payload: &[u8]) -> Vec<u8> {
    joined(STRUCTURED | (alg_index(alg) << 1) | 1, &[header, payload])
}

/// `jwk`: a JWK (or, with `set`, a JWK Set) built from indexes into `KTYS` and `ALGS`, the
/// flags and the raw member bytes.
pub fn jwk_built(kty: u8, alg: u8, flags: u8, members: &[&[u8]], set: bool) -> Vec<u8> {
    let mut out = joined(STRUCTURED | if set { 3 } else { 0 }, members);
    out.splice(1..1, [kty, alg, flags]);
    out
}

/// `jwk`: DER wrapped as PEM with `PEM_LABELS[label]`, imported for `alg`.
pub fn jwk_pem(label: u8, alg: Alg, der: &[u8]) -> Vec<u8> {
    let mut out = vec![STRUCTURED | 1, label, alg_index(alg)];
    out.extend_from_slice(der);
    out
}

/// `jwk`: storage bytes for `alg`.
pub fn jwk_storage(alg: Alg, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![STRUCTURED | 2, alg_index(alg)];
    out.extend_from_slice(bytes);
    out
}

/// `api_key`: the characters after the prefix; the target appends the checksum.
pub fn api_key_body(kind: ApiKeyKind, body: &[u8]) -> Vec<u8> {
    let mut out = vec![STRUCTURED | u8::from(kind == ApiKeyKind::Secret)];
    out.extend_from_slice(body);
    out
}
