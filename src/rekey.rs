//! Helpers of `auth.rekey()` (sql/finalize.sql), which re-seals every sealed value under the
//! current key-encryption key in one transaction, and of the upgrade that sealed plaintext keys.
//! Each takes one sealed value and returns it sealed again; none returns plaintext.

use pg_auth_keys_core::{Purpose, SealError};
use pgrx::prelude::*;

use crate::errors::{AuthError, OrRaise};
use crate::kek;

fn key_purpose(purpose: &str) -> Purpose {
    match purpose {
        "private_key" => Purpose::PrivateKey,
        "hmac_secret" => Purpose::HmacSecret,
        other => AuthError::BadArgument(format!(
            "unknown sealed column \"{}\"",
            other.chars().take(32).collect::<String>()
        ))
        .raise(),
    }
}

/// `sealed` opened with whichever KEK sealed it and sealed again under the current one; None
/// when no available KEK opens it (rekey counts those and changes nothing). A misconfigured
/// KEK (a short root key, an unreadable key file) raises.
fn reseal(purpose: Purpose, context: &[u8], sealed: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
    let mut plain = match kek::open(purpose, context, sealed) {
        Ok(p) => p,
        Err(AuthError::Sealed(
            SealError::KekUnavailable(_) | SealError::Corrupt | SealError::UnknownVersion(_),
        )) => return Ok(None),
        Err(e) => return Err(e),
    };
    let resealed = kek::seal(purpose, context, &plain);
    plain.fill(0);
    std::hint::black_box(&plain);
    resealed.map(Some)
}

mod auth {
    use super::*;

    /// Internal: a signing key's sealed `private_key` or an HMAC key's sealed `verify_key`
    /// (`purpose`), sealed again under the current KEK; NULL when it cannot be opened.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _reseal_key(kid: &str, purpose: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        reseal(key_purpose(purpose), kid.as_bytes(), sealed).or_raise()
    }

    /// Internal: a secret API key's sealed copy, sealed again under the current KEK; NULL when
    /// it cannot be opened.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _reseal_api_key(id: pgrx::Uuid, sealed: &[u8]) -> Option<Vec<u8>> {
        reseal(Purpose::ApiKey, id.as_bytes(), sealed).or_raise()
    }

    /// Internal: the id of the KEK new values are sealed under (for the audit log); creates the
    /// data directory's key file when there is no root key and no file yet.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _kek_id() -> String {
        kek::sealing().or_raise().id().to_string()
    }

    /// Internal, called by CREATE EXTENSION: with no auth.root_key, make the data directory's
    /// key file now, so a standby copied from this server later has it.
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private")]
    fn _init_kek() {
        kek::ensure().or_raise()
    }

    /// Only for the upgrade from 0.2.0, which creates it for the length of the script: a
    /// plaintext private key or HMAC secret of `kid`, sealed. Not part of the installed
    /// extension (no SQL is generated for it).
    #[pg_extern(volatile, parallel_unsafe, schema = "auth_private", sql = false)]
    fn _seal_plaintext(kid: &str, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        kek::seal(key_purpose(purpose), kid.as_bytes(), plaintext).or_raise()
    }
}
