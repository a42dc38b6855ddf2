//! Key material for the lifecycle functions in `sql/finalize.sql`: generation, import and the
//! public JWK. These return private material, so they are internal (`_` names, not executable by
//! PUBLIC) and only called from the SECURITY DEFINER lifecycle functions.

// pgrx needs TableIterator's row type spelled out in each signature.
#![allow(clippy::type_complexity)]

use pg_auth_keys_jose::{self as jose, Alg, ImportedKey, SigningKey, VerifyKey};
use pgrx::prelude::*;

use crate::errors::{AuthError, OrRaise};
use crate::jsonb_arg::JsonbArg;
use crate::{keyset, shmem};

type KeyRowOut = (
    name!(kid, Option<String>),
    name!(alg, String),
    name!(verify_key, Vec<u8>),
    name!(private_key, Option<Vec<u8>>),
);

fn parse_alg(alg: &str) -> Result<Alg, AuthError> {
    Alg::parse(alg).ok_or_else(|| {
        let shown: String = alg.chars().take(32).collect();
        let more = if shown.len() < alg.len() { "…" } else { "" };
        AuthError::BadArgument(format!("unsupported alg \"{shown}{more}\""))
    })
}

fn check_fits(key: &VerifyKey) -> Result<(), AuthError> {
    if key.bytes().len() > shmem::MAX_KEY_BYTES {
        return Err(AuthError::BadArgument(format!(
            "key too large: {} bytes of key material, at most {}",
            key.bytes().len(),
            shmem::MAX_KEY_BYTES
        )));
    }
    Ok(())
}

fn row_of(kid: Option<String>, verify: &VerifyKey, signing: Option<&SigningKey>) -> KeyRowOut {
    (
        kid,
        verify.alg().as_str().to_string(),
        verify.bytes().to_vec(),
        signing.map(|s| s.private_bytes().to_vec()),
    )
}

fn imported_row(k: ImportedKey) -> Result<KeyRowOut, AuthError> {
    check_fits(&k.verify)?;
    Ok(row_of(k.kid, &k.verify, k.signing.as_ref()))
}

mod auth {
    use super::*;

    /// A new key pair (or HMAC secret) from the CSPRNG.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _generate_key(
        alg: &str,
    ) -> TableIterator<
        'static,
        (
            name!(kid, Option<String>),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let alg = parse_alg(alg).or_raise();
        if !alg.can_create() {
            AuthError::BadArgument(format!(
                "keys made here use ES256, RS256, EdDSA or HS256, not {}; import a {} key instead",
                alg.as_str(),
                alg.as_str()
            ))
            .raise()
        }
        let key = SigningKey::generate(alg).or_raise();
        TableIterator::once(row_of(None, key.verify_key(), Some(&key)))
    }

    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _parse_jwk(
        jwk: JsonbArg,
    ) -> TableIterator<
        'static,
        (
            name!(kid, Option<String>),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let key = jose::import_jwk(&jwk.parse("jwk").or_raise()).or_raise();
        TableIterator::once(imported_row(key).or_raise())
    }

    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _parse_jwks(
        jwks: JsonbArg,
    ) -> TableIterator<
        'static,
        (
            name!(kid, Option<String>),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let keys = jose::import_jwks(&jwks.parse("jwks").or_raise()).or_raise();
        let rows: Vec<KeyRowOut> = keys
            .into_iter()
            .map(|k| imported_row(k).or_raise())
            .collect();
        TableIterator::new(rows)
    }

    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _parse_pem(
        pem: &str,
        alg: &str,
    ) -> TableIterator<
        'static,
        (
            name!(kid, Option<String>),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let alg = parse_alg(alg).or_raise();
        let key = jose::import_pem(pem, alg).or_raise();
        TableIterator::once(imported_row(key).or_raise())
    }

    /// The legacy JWT secret as an HS256 key (at least 32 bytes, RFC 7518 §3.2).
    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _parse_secret(secret: &[u8]) -> Vec<u8> {
        let key = VerifyKey::from_parts(Alg::HS256, secret).or_raise();
        check_fits(&key).or_raise();
        key.bytes().to_vec()
    }

    /// The public JWK of a stored key; NULL for HMAC keys, which have no public half.
    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _public_jwk(alg: &str, verify_key: &[u8], kid: &str) -> Option<pgrx::JsonB> {
        let alg = Alg::parse(alg)?;
        let key = VerifyKey::from_parts(alg, verify_key).ok()?;
        key.public_jwk(kid).map(pgrx::JsonB)
    }

    /// Marks the key set changed for this transaction (see keyset::note_change).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _keys_changed() {
        keyset::note_change(keyset::Change::SigningKeys).or_raise();
    }
}
