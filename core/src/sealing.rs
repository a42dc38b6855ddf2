//! Sealing secrets at rest under a key-encryption key (KEK): private keys, HMAC secrets and the
//! revealable copies of secret API keys are stored only in this form, so that a table read, a
//! `pg_dump` file or WAL holds nothing a signer can use without the KEK.
//!
//! A KEK is at least 32 bytes of key material: `auth.root_key`, or the 32 random bytes of the
//! key file the extension keeps in the data directory (the pgrx layer, `src/kek.rs`, decides
//! which). From it, HKDF-SHA256 (RFC 5869) derives an AES-256-GCM key that seals, and an 8-byte
//! KEK id that is stored in every sealed value, so that a value sealed under another KEK says so
//! (and says which one) instead of reporting a corrupt value; the KEK id never reveals the KEK.
//!
//! Each value is sealed with a fresh random 96-bit nonce, and its associated data binds it to
//! what it is (a [`Purpose`] label) and whose it is (the key's kid, or the API key's id): a
//! sealed private key copied onto another row, or into the HMAC-secret column, does not open.
//!
//! Sealed layout, version 2: `02` ‖ KEK id (8) ‖ nonce (12) ‖ ciphertext ‖ tag (16),
//! associated data `purpose label ‖ 00 ‖ context`.
//! Version 1 (0.2.0, secret API keys only) is still opened, never written: `01` ‖ fingerprint
//! (8) ‖ nonce (12) ‖ ciphertext ‖ tag (16), associated data the API key's id, under keys derived
//! with other HKDF labels; `auth.rekey()` turns it into version 2.

use std::fmt;

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA256};
use thiserror::Error;

/// Shortest key material accepted for a KEK (`auth.root_key`), in bytes.
pub const MIN_ROOT_KEY_BYTES: usize = 32;
/// Bytes of a KEK id.
pub const KEK_ID_LEN: usize = 8;
const V1: u8 = 1;
const V2: u8 = 2;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEK_ID_LEN + NONCE_LEN;
/// How many bytes sealing adds to a value.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
const SALT: &[u8] = b"pg_auth_keys root key v1";

/// Which KEK sealed a value: derived from the KEK with HKDF, so it identifies it without
/// revealing anything about it. Shown in hex in errors and in `auth.key_events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KekId(pub [u8; KEK_ID_LEN]);

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What a sealed value is; part of its associated data, so a value cannot be moved to a column
/// that means something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `private_key` of a signing key (PKCS#8 / PKCS#1 DER, or an HMAC secret).
    PrivateKey,
    /// `verify_key` of an HMAC key: the shared secret.
    HmacSecret,
    /// The revealable copy of a secret API key.
    ApiKey,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::PrivateKey => b"pg_auth_keys private key",
            Purpose::HmacSecret => b"pg_auth_keys hmac secret",
            Purpose::ApiKey => b"pg_auth_keys api key",
        }
    }
}

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum SealError {
    #[error("auth.root_key must be at least {MIN_ROOT_KEY_BYTES} bytes")]
    RootKeyTooShort,
    /// None of the KEKs tried is the one that sealed the value.
    #[error("key-encryption key missing: the value was sealed under key-encryption key {0}, which is not available")]
    KekUnavailable(KekId),
    #[error("the sealed value is corrupt")]
    Corrupt,
    #[error(
        "the sealed value has format version {0}, which this version of pg_auth_keys does not know"
    )]
    UnknownVersion(u8),
    #[error("the system random number generator failed")]
    Random,
}

struct Len(usize);
impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(material: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), SealError> {
    Salt::new(HKDF_SHA256, SALT)
        .extract(material)
        .expand(&[info], Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| SealError::Corrupt)
}

fn aead_key(material: &[u8], info: &[u8]) -> Result<RandomizedNonceKey, SealError> {
    let mut key = [0u8; 32];
    derive(material, info, &mut key)?;
    let made = RandomizedNonceKey::new(&AES_256_GCM, &key).map_err(|_| SealError::Corrupt);
    key.fill(0);
    std::hint::black_box(&key);
    made
}

fn key_id(material: &[u8], info: &[u8]) -> Result<KekId, SealError> {
    let mut id = [0u8; KEK_ID_LEN];
    derive(material, info, &mut id)?;
    Ok(KekId(id))
}

/// The KEK id of a sealed value (for a version 1 value, its 0.2.0 fingerprint), read from its
/// header without opening it.
pub fn sealed_by(sealed: &[u8]) -> Result<KekId, SealError> {
    match sealed.first() {
        None => Err(SealError::Corrupt),
        Some(&v) if v != V1 && v != V2 => Err(SealError::UnknownVersion(v)),
        Some(_) if sealed.len() < SEAL_OVERHEAD => Err(SealError::Corrupt),
        Some(_) => {
            let mut id = [0u8; KEK_ID_LEN];
            id.copy_from_slice(&sealed[1..1 + KEK_ID_LEN]);
            Ok(KekId(id))
        }
    }
}

/// The keys derived from one KEK.
pub struct Kek {
    key: RandomizedNonceKey,
    id: KekId,
    /// 0.2.0's key and fingerprint for secret API keys (version 1 values), to open them.
    v1_key: RandomizedNonceKey,
    v1_id: KekId,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Kek {
    /// The keys of KEK material of at least [`MIN_ROOT_KEY_BYTES`] bytes.
    pub fn derive(material: &[u8]) -> Result<Kek, SealError> {
        if material.len() < MIN_ROOT_KEY_BYTES {
            return Err(SealError::RootKeyTooShort);
        }
        Ok(Kek {
            key: aead_key(material, b"pg_auth_keys seal v2")?,
            id: key_id(material, b"pg_auth_keys kek id v2")?,
            v1_key: aead_key(material, b"seal api keys")?,
            v1_id: key_id(material, b"fingerprint")?,
        })
    }

    pub fn id(&self) -> KekId {
        self.id
    }

    /// Seal `plaintext` as `purpose` of `context` (a kid, or an API key's id).
    pub fn seal(
        &self,
        purpose: Purpose,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let mut body = Vec::with_capacity(plaintext.len() + TAG_LEN);
        body.extend_from_slice(plaintext);
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad(purpose, context)), &mut body)
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.push(V2);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Open a value sealed by [`Kek::seal`] as the same `purpose` of the same `context`.
    /// `KekUnavailable` when another KEK sealed it.
    pub fn open(
        &self,
        purpose: Purpose,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let id = sealed_by(sealed)?;
        let (key, aad) = match sealed[0] {
            V2 if id == self.id => (&self.key, aad(purpose, context)),
            V1 if id == self.v1_id && purpose == Purpose::ApiKey => {
                (&self.v1_key, context.to_vec())
            }
            V1 if purpose != Purpose::ApiKey => return Err(SealError::Corrupt),
            _ => return Err(SealError::KekUnavailable(id)),
        };
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + KEK_ID_LEN..HEADER_LEN])
            .map_err(|_| SealError::Corrupt)?;
        let mut body = sealed[HEADER_LEN..].to_vec();
        let opened = key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map(|plain| plain.len())
            .map_err(|_| SealError::Corrupt);
        match opened {
            Ok(n) => {
                body.truncate(n);
                Ok(body)
            }
            Err(e) => {
                body.fill(0);
                Err(e)
            }
        }
    }

    /// Would [`Kek::open`] try to open `sealed` with this KEK (is it the one that sealed it)?
    pub fn sealed(&self, sealed: &[u8]) -> bool {
        match (sealed.first(), sealed_by(sealed)) {
            (Some(&V2), Ok(id)) => id == self.id,
            (Some(&V1), Ok(id)) => id == self.v1_id,
            _ => false,
        }
    }
}

fn aad(purpose: Purpose, context: &[u8]) -> Vec<u8> {
    let label = purpose.label();
    let mut aad = Vec::with_capacity(label.len() + 1 + context.len());
    aad.extend_from_slice(label);
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

/// Open `sealed` with whichever of `keks` sealed it. `KekUnavailable` names the KEK id that is
/// needed when none of them did.
pub fn open_with(
    keks: &[&Kek],
    purpose: Purpose,
    context: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    let id = sealed_by(sealed)?;
    match keks.iter().find(|k| k.sealed(sealed)) {
        Some(kek) => kek.open(purpose, context, sealed),
        None => Err(SealError::KekUnavailable(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &[u8] = b"correct horse battery staple, 32+ bytes";
    const OTHER: &[u8] = b"another root key that is long enough!!";

    #[test]
    fn seal_then_open() {
        let k = Kek::derive(ROOT).unwrap();
        for purpose in [Purpose::PrivateKey, Purpose::HmacSecret, Purpose::ApiKey] {
            let sealed = k.seal(purpose, b"kid-1", b"private bytes").unwrap();
            assert_eq!(sealed.len(), b"private bytes".len() + SEAL_OVERHEAD);
            assert_eq!(sealed[0], 2, "version byte");
            assert_eq!(&sealed[1..9], &k.id().0, "KEK id in the header");
            assert_eq!(sealed_by(&sealed), Ok(k.id()));
            assert_eq!(
                k.open(purpose, b"kid-1", &sealed).unwrap(),
                b"private bytes"
            );
            // Fresh nonce every time.
            assert_ne!(sealed, k.seal(purpose, b"kid-1", b"private bytes").unwrap());
        }
        // The empty value round-trips too.
        let sealed = k.seal(Purpose::ApiKey, b"", b"").unwrap();
        assert_eq!(k.open(Purpose::ApiKey, b"", &sealed).unwrap(), b"");
    }

    #[test]
    fn the_kek_id_identifies_without_revealing() {
        let a = Kek::derive(ROOT).unwrap();
        assert_eq!(a.id(), Kek::derive(ROOT).unwrap().id(), "deterministic");
        assert_ne!(a.id(), Kek::derive(OTHER).unwrap().id());
        let sealed = a.seal(Purpose::PrivateKey, b"k", ROOT).unwrap();
        // Neither the KEK nor any 8-byte piece of it is stored.
        for w in ROOT.windows(KEK_ID_LEN) {
            assert!(!sealed.windows(KEK_ID_LEN).any(|s| s == w));
        }
        assert_eq!(a.id().to_string().len(), 16);
    }

    #[test]
    fn wrong_kek_says_which_one_is_needed() {
        let k = Kek::derive(ROOT).unwrap();
        let other = Kek::derive(OTHER).unwrap();
        let sealed = k.seal(Purpose::PrivateKey, b"kid-1", b"secret").unwrap();
        assert_eq!(
            other.open(Purpose::PrivateKey, b"kid-1", &sealed),
            Err(SealError::KekUnavailable(k.id()))
        );
        assert_eq!(
            open_with(&[&other], Purpose::PrivateKey, b"kid-1", &sealed),
            Err(SealError::KekUnavailable(k.id()))
        );
        assert_eq!(
            open_with(&[], Purpose::PrivateKey, b"kid-1", &sealed),
            Err(SealError::KekUnavailable(k.id()))
        );
        // With the right one anywhere in the ring, it opens.
        assert_eq!(
            open_with(&[&other, &k], Purpose::PrivateKey, b"kid-1", &sealed).unwrap(),
            b"secret"
        );
    }

    #[test]
    fn bound_to_kid_and_purpose() {
        let k = Kek::derive(ROOT).unwrap();
        let sealed = k.seal(Purpose::PrivateKey, b"kid-1", b"secret").unwrap();
        assert_eq!(
            k.open(Purpose::PrivateKey, b"kid-2", &sealed),
            Err(SealError::Corrupt)
        );
        assert_eq!(
            k.open(Purpose::PrivateKey, b"kid-", &sealed),
            Err(SealError::Corrupt)
        );
        assert_eq!(
            k.open(Purpose::HmacSecret, b"kid-1", &sealed),
            Err(SealError::Corrupt)
        );
        assert_eq!(
            k.open(Purpose::ApiKey, b"kid-1", &sealed),
            Err(SealError::Corrupt)
        );
    }

    #[test]
    fn corrupted_values_are_refused() {
        let k = Kek::derive(ROOT).unwrap();
        let sealed = k.seal(Purpose::HmacSecret, b"kid", b"secret").unwrap();
        // Every flipped bit after the version byte and the KEK id: corrupt.
        for i in 1 + KEK_ID_LEN..sealed.len() {
            for bit in 0..8 {
                let mut flipped = sealed.clone();
                flipped[i] ^= 1 << bit;
                assert_eq!(
                    k.open(Purpose::HmacSecret, b"kid", &flipped),
                    Err(SealError::Corrupt),
                    "byte {i} bit {bit}"
                );
            }
        }
        // A flipped KEK id: another KEK's value.
        let mut flipped = sealed.clone();
        flipped[3] ^= 1;
        assert!(matches!(
            k.open(Purpose::HmacSecret, b"kid", &flipped),
            Err(SealError::KekUnavailable(_))
        ));
        for n in 0..SEAL_OVERHEAD {
            assert!(k.open(Purpose::HmacSecret, b"kid", &sealed[..n]).is_err());
        }
        assert_eq!(
            k.open(Purpose::HmacSecret, b"kid", &sealed[..sealed.len() - 1]),
            Err(SealError::Corrupt)
        );
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(
            k.open(Purpose::HmacSecret, b"kid", &longer),
            Err(SealError::Corrupt)
        );
        assert_eq!(
            k.open(Purpose::HmacSecret, b"kid", &[]),
            Err(SealError::Corrupt)
        );
    }

    #[test]
    fn unknown_versions_are_refused_as_such() {
        let k = Kek::derive(ROOT).unwrap();
        let sealed = k.seal(Purpose::PrivateKey, b"kid", b"secret").unwrap();
        for v in [0u8, 3, 0x30, 0xff] {
            let mut other = sealed.clone();
            other[0] = v;
            assert_eq!(
                k.open(Purpose::PrivateKey, b"kid", &other),
                Err(SealError::UnknownVersion(v))
            );
            assert_eq!(sealed_by(&other), Err(SealError::UnknownVersion(v)));
        }
        // Plaintext DER (a SEQUENCE, 0x30) is never taken for a sealed value.
        assert_eq!(
            k.open(
                Purpose::PrivateKey,
                b"kid",
                &[0x30, 0x81, 0x87, 0x02, 0x01, 0x00]
            ),
            Err(SealError::UnknownVersion(0x30))
        );
    }

    /// A secret API key sealed by 0.2.0 (version 1), rebuilt here from that release's layout.
    fn sealed_by_0_2_0(root: &[u8], id: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let key = aead_key(root, b"seal api keys").unwrap();
        let fingerprint = key_id(root, b"fingerprint").unwrap();
        let mut body = plaintext.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(id), &mut body)
            .unwrap();
        [&[V1][..], &fingerprint.0, nonce.as_ref(), &body].concat()
    }

    #[test]
    fn version_1_api_keys_still_open_and_nothing_else_does() {
        let k = Kek::derive(ROOT).unwrap();
        let old = sealed_by_0_2_0(ROOT, b"id-1", b"sb_secret_abc");
        assert_eq!(
            k.open(Purpose::ApiKey, b"id-1", &old).unwrap(),
            b"sb_secret_abc"
        );
        assert_eq!(
            open_with(&[&k], Purpose::ApiKey, b"id-1", &old).unwrap(),
            b"sb_secret_abc"
        );
        assert_eq!(
            k.open(Purpose::ApiKey, b"id-2", &old),
            Err(SealError::Corrupt)
        );
        assert_eq!(
            k.open(Purpose::PrivateKey, b"id-1", &old),
            Err(SealError::Corrupt)
        );
        let other = Kek::derive(OTHER).unwrap();
        assert!(matches!(
            other.open(Purpose::ApiKey, b"id-1", &old),
            Err(SealError::KekUnavailable(_))
        ));
        // Re-sealing (what auth.rekey does) writes version 2.
        let resealed = k.seal(Purpose::ApiKey, b"id-1", b"sb_secret_abc").unwrap();
        assert_eq!(resealed[0], V2);
    }

    #[test]
    fn short_key_material_is_refused() {
        assert_eq!(
            Kek::derive(b"short").map(|_| ()),
            Err(SealError::RootKeyTooShort)
        );
        assert_eq!(
            Kek::derive(&[7u8; MIN_ROOT_KEY_BYTES - 1]).map(|_| ()),
            Err(SealError::RootKeyTooShort)
        );
        assert!(Kek::derive(&[7u8; MIN_ROOT_KEY_BYTES]).is_ok());
    }
}
