//! Sealing secret API keys under the server's root key (`auth.root_key`), so that
//! `auth.reveal_api_key` can show a secret key again while the table only ever holds ciphertext.
//!
//! The root key is a passphrase-like string of at least 32 bytes set by a superuser. Two keys
//! are derived from it with HKDF-SHA256 (RFC 5869): an AES-256-GCM key that seals, and an
//! 8-byte fingerprint stored with each sealed value, so that opening under a *different* root key
//! says so instead of reporting a corrupt value. Each value is sealed with a fresh random 96-bit
//! nonce and the API key's id as associated data, so a sealed value copied onto another row does
//! not open.
//!
//! Sealed layout: version (1) ‖ fingerprint (8) ‖ nonce (12) ‖ ciphertext ‖ tag (16).

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA256};
use thiserror::Error;

/// Shortest root key accepted, in bytes.
pub const MIN_ROOT_KEY_BYTES: usize = 32;
const VERSION: u8 = 1;
const FINGERPRINT_LEN: usize = 8;
const TAG_LEN: usize = 16;
const SALT: &[u8] = b"pg_auth_keys root key v1";

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum SealError {
    #[error("auth.root_key must be at least {MIN_ROOT_KEY_BYTES} bytes")]
    RootKeyTooShort,
    #[error("the value was sealed under a different auth.root_key")]
    OtherRootKey,
    #[error("the sealed value is corrupt")]
    Corrupt,
    #[error("the system random number generator failed")]
    Random,
}

struct Len(usize);
impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(root_key: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), SealError> {
    Salt::new(HKDF_SHA256, SALT)
        .extract(root_key)
        .expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| SealError::Corrupt)
}

/// The AES-256-GCM key and fingerprint derived from a root key.
pub struct RootKey {
    key: RandomizedNonceKey,
    fingerprint: [u8; FINGERPRINT_LEN],
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey").finish_non_exhaustive()
    }
}

impl RootKey {
    pub fn derive(root_key: &[u8]) -> Result<RootKey, SealError> {
        if root_key.len() < MIN_ROOT_KEY_BYTES {
            return Err(SealError::RootKeyTooShort);
        }
        let mut aead_key = [0u8; 32];
        derive(root_key, b"seal api keys", &mut aead_key)?;
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        derive(root_key, b"fingerprint", &mut fingerprint)?;
        let key =
            RandomizedNonceKey::new(&AES_256_GCM, &aead_key).map_err(|_| SealError::Corrupt)?;
        Ok(RootKey { key, fingerprint })
    }

    /// Seal `plaintext`, bound to `context` (the API key's id).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut body = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context), &mut body)
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(1 + FINGERPRINT_LEN + NONCE_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Open a value made by [`RootKey::seal`] with the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let header = 1 + FINGERPRINT_LEN + NONCE_LEN;
        if sealed.len() < header + TAG_LEN || sealed[0] != VERSION {
            return Err(SealError::Corrupt);
        }
        if sealed[1..1 + FINGERPRINT_LEN] != self.fingerprint {
            return Err(SealError::OtherRootKey);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + FINGERPRINT_LEN..header])
            .map_err(|_| SealError::Corrupt)?;
        let mut body = sealed[header..].to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| SealError::Corrupt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &[u8] = b"correct horse battery staple, 32+ bytes";

    #[test]
    fn seal_then_open() {
        let k = RootKey::derive(ROOT).unwrap();
        let sealed = k.seal(b"id-1", b"sb_secret_abc").unwrap();
        assert_eq!(k.open(b"id-1", &sealed).unwrap(), b"sb_secret_abc");
        // Fresh nonce every time.
        assert_ne!(sealed, k.seal(b"id-1", b"sb_secret_abc").unwrap());
    }

    #[test]
    fn refuses_other_context_other_key_and_tampering() {
        let k = RootKey::derive(ROOT).unwrap();
        let sealed = k.seal(b"id-1", b"secret").unwrap();
        assert_eq!(k.open(b"id-2", &sealed), Err(SealError::Corrupt));
        let other = RootKey::derive(b"another root key that is long enough!!").unwrap();
        assert_eq!(other.open(b"id-1", &sealed), Err(SealError::OtherRootKey));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(k.open(b"id-1", &flipped), Err(SealError::Corrupt));
        assert_eq!(k.open(b"id-1", &sealed[..10]), Err(SealError::Corrupt));
        assert_eq!(k.open(b"id-1", &[]), Err(SealError::Corrupt));
    }

    #[test]
    fn short_root_key_is_refused() {
        assert_eq!(
            RootKey::derive(b"short").map(|_| ()),
            Err(SealError::RootKeyTooShort)
        );
    }
}
