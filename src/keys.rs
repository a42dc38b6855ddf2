//! Key material for the lifecycle functions in `sql/finalize.sql`: generation, import and the
//! public JWK. Private key material and HMAC secrets leave these functions only sealed
//! (`kek.rs`, bound to the key's kid), so plaintext never passes through a SQL variable, a table
//! or WAL; they are internal (`_` names, not executable by PUBLIC) and only called from the
//! SECURITY DEFINER lifecycle functions. A key without a kid gets a random UUID here, because
//! the kid is part of what the seal binds.

// pgrx needs TableIterator's row type spelled out in each signature.
#![allow(clippy::type_complexity)]

use pg_auth_keys_core::{self as auth_core, Alg, ImportedKey, Purpose, SigningKey, VerifyKey};
use pgrx::prelude::*;

use crate::errors::{AuthError, OrRaise};
use crate::jsonb_arg::JsonbArg;
use crate::{catalog, kek, shmem};

type KeyRowOut = (
    name!(kid, String),
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

/// A random (version 4) UUID as text, the kid of a key that came without one.
fn new_kid() -> Result<String, AuthError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| AuthError::Internal("the system random number generator failed".into()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Is this database still at a release before 0.3.0 (its tables in schema `auth`, see
/// catalog.rs)? Those releases stored key material in the clear, and their SQL passes it so.
/// Between installing this library and `ALTER EXTENSION pg_auth_keys UPDATE` (which seals
/// everything), such a database keeps working as it did; a 0.3.0 one never takes this path.
pub fn stored_in_clear() -> Result<bool, AuthError> {
    Ok(catalog::relations()?.schema.as_bytes() != catalog::PRIVATE_SCHEMA.to_bytes())
}

/// The row stored for a key: what verifies (a public key in the clear, an HMAC secret sealed)
/// and what signs (sealed), both bound to `kid`.
fn sealed_row(
    kid: Option<String>,
    verify: &VerifyKey,
    signing: Option<&SigningKey>,
) -> Result<KeyRowOut, AuthError> {
    check_fits(verify)?;
    let kid = match kid {
        Some(kid) => kid,
        None => new_kid()?,
    };
    if stored_in_clear()? {
        return Ok((
            kid,
            verify.alg().as_str().to_string(),
            verify.bytes().to_vec(),
            signing.map(|s| s.private_bytes().to_vec()),
        ));
    }
    let verify_key = if verify.alg().is_hmac() {
        kek::seal(Purpose::HmacSecret, kid.as_bytes(), verify.bytes())?
    } else {
        verify.bytes().to_vec()
    };
    let private_key = signing
        .map(|s| kek::seal(Purpose::PrivateKey, kid.as_bytes(), s.private_bytes()))
        .transpose()?;
    Ok((
        kid,
        verify.alg().as_str().to_string(),
        verify_key,
        private_key,
    ))
}

fn imported_row(k: ImportedKey) -> Result<KeyRowOut, AuthError> {
    sealed_row(k.kid, &k.verify, k.signing.as_ref())
}

/// The signing key stored sealed for `kid` (`auth._keys.private_key`).
pub fn open_signing_key(alg: Alg, kid: &str, sealed: &[u8]) -> Result<SigningKey, AuthError> {
    if stored_in_clear()? {
        return Ok(SigningKey::from_private(alg, sealed)?);
    }
    let mut private = kek::open(Purpose::PrivateKey, kid.as_bytes(), sealed)?;
    let key = SigningKey::from_private(alg, &private);
    private.fill(0);
    std::hint::black_box(&private);
    Ok(key?)
}

/// The HMAC secret stored sealed for `kid` (`auth._keys.verify_key` of an HS* key).
pub fn open_hmac_secret(kid: &str, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    if stored_in_clear()? {
        return Ok(sealed.to_vec());
    }
    kek::open(Purpose::HmacSecret, kid.as_bytes(), sealed)
}

mod auth {
    use super::*;

    /// A new key pair (or HMAC secret) from the CSPRNG, sealed, with a new kid.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _generate_key(
        alg: &str,
    ) -> TableIterator<
        'static,
        (
            name!(kid, String),
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
        TableIterator::once(sealed_row(None, key.verify_key(), Some(&key)).or_raise())
    }

    /// A JWK's key, sealed; VOLATILE: a kid may be made up and the key-encryption key read.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _parse_jwk(
        jwk: JsonbArg,
    ) -> TableIterator<
        'static,
        (
            name!(kid, String),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let key = auth_core::import_jwk(&jwk.parse("jwk").or_raise()).or_raise();
        TableIterator::once(imported_row(key).or_raise())
    }

    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _parse_jwks(
        jwks: JsonbArg,
    ) -> TableIterator<
        'static,
        (
            name!(kid, String),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let keys = auth_core::import_jwks(&jwks.parse("jwks").or_raise()).or_raise();
        let rows: Vec<KeyRowOut> = keys
            .into_iter()
            .map(|k| imported_row(k).or_raise())
            .collect();
        TableIterator::new(rows)
    }

    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _parse_pem(
        pem: &str,
        alg: &str,
    ) -> TableIterator<
        'static,
        (
            name!(kid, String),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let alg = parse_alg(alg).or_raise();
        let key = auth_core::import_pem(pem, alg).or_raise();
        TableIterator::once(imported_row(key).or_raise())
    }

    /// Releases before 0.3.0 declared this as `_parse_secret(bytea) RETURNS bytea` (the secret,
    /// checked, in the clear), and their `migrate_legacy_secret` calls it until the database is
    /// updated: the symbol stays, for those databases only. No SQL is generated for it.
    #[pg_extern(immutable, parallel_safe, schema = "auth_private", sql = false)]
    fn _parse_secret(secret: &[u8]) -> Vec<u8> {
        if !stored_in_clear().or_raise() {
            AuthError::NotReady {
                message:
                    "auth_private._parse_secret is only for databases at a release before 0.3.0"
                        .into(),
                hint: "use auth.migrate_legacy_secret()".into(),
            }
            .raise()
        }
        let key = VerifyKey::from_parts(Alg::HS256, secret).or_raise();
        check_fits(&key).or_raise();
        key.bytes().to_vec()
    }

    /// The legacy JWT secret as an HS256 key (at least 32 bytes, RFC 7518 §3.2), sealed, with a
    /// new kid.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _parse_legacy_secret(
        secret: &[u8],
    ) -> TableIterator<
        'static,
        (
            name!(kid, String),
            name!(alg, String),
            name!(verify_key, Vec<u8>),
            name!(private_key, Option<Vec<u8>>),
        ),
    > {
        let key = SigningKey::from_private(Alg::HS256, secret).or_raise();
        TableIterator::once(sealed_row(None, key.verify_key(), Some(&key)).or_raise())
    }

    /// The public JWK of a stored key; NULL for HMAC keys, which have no public half.
    #[pg_extern(immutable, parallel_safe, schema = "auth_private")]
    fn _public_jwk(alg: &str, verify_key: &[u8], kid: &str) -> Option<pgrx::JsonB> {
        let alg = Alg::parse(alg)?;
        let key = VerifyKey::from_parts(alg, verify_key).ok()?;
        key.public_jwk(kid).map(pgrx::JsonB)
    }
}
