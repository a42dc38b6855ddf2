//! API keys (README "API keys"): `sb_publishable_…` and `sb_secret_…`.
//!
//! Format: kind prefix, 32 base62 characters drawn uniformly from the CSPRNG (≈190 bits), then
//! 6 base62 characters encoding the CRC-32 of everything before them. The fixed prefix lets
//! secret scanners recognise a leaked key; the checksum lets them (and us) discard typos and
//! random strings offline, before any hashing or table lookup — the same design as GitHub's
//! token format. Only the SHA-256 of the whole key is stored: the key has 190 bits of entropy,
//! so a fast hash is enough (no password-style stretching needed).

use aws_lc_rs::digest;
use thiserror::Error;

/// Random characters after the prefix.
pub const API_KEY_BODY_CHARS: usize = 32;
/// Checksum characters at the end.
pub const API_KEY_CHECKSUM_CHARS: usize = 6;
/// Body characters shown in [`NewApiKey::prefix`] (display only; 24 of 190 bits).
const DISPLAY_CHARS: usize = 4;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiKeyKind {
    Publishable,
    Secret,
}

impl ApiKeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyKind::Publishable => "publishable",
            ApiKeyKind::Secret => "secret",
        }
    }

    pub fn parse(s: &str) -> Option<ApiKeyKind> {
        match s {
            "publishable" => Some(ApiKeyKind::Publishable),
            "secret" => Some(ApiKeyKind::Secret),
            _ => None,
        }
    }

    /// The literal prefix of keys of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            ApiKeyKind::Publishable => "sb_publishable_",
            ApiKeyKind::Secret => "sb_secret_",
        }
    }

    /// Total length of a key of this kind.
    pub fn key_len(self) -> usize {
        self.prefix().len() + API_KEY_BODY_CHARS + API_KEY_CHECKSUM_CHARS
    }
}

/// A freshly generated key. `full` is shown once and never stored.
#[derive(Clone)]
pub struct NewApiKey {
    pub full: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum ApiKeyError {
    #[error("malformed api key")]
    Malformed,
    #[error("api key checksum mismatch")]
    BadChecksum,
}

fn checksum(text: &str) -> [u8; API_KEY_CHECKSUM_CHARS] {
    let mut v = crc32fast::hash(text.as_bytes());
    let mut out = [b'0'; API_KEY_CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    out
}

/// The SHA-256 under which a key is stored and looked up (the legacy anon / service_role JWTs
/// too, whole): the key has ~190 random bits, so a fast hash cannot be reversed.
pub fn api_key_hash(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, text.as_bytes()).as_ref());
    out
}

/// Generate a key, or fail if the system CSPRNG fails.
pub fn try_generate_api_key(kind: ApiKeyKind) -> Result<NewApiKey, aws_lc_rs::error::Unspecified> {
    let mut full = String::with_capacity(kind.key_len());
    full.push_str(kind.prefix());
    let mut pool = [0u8; 64];
    while full.len() < kind.prefix().len() + API_KEY_BODY_CHARS {
        aws_lc_rs::rand::fill(&mut pool)?;
        for &b in &pool {
            // 248 = 4·62: rejecting 248..=255 keeps every character uniform.
            if b < 248 && full.len() < kind.prefix().len() + API_KEY_BODY_CHARS {
                full.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    let sum = checksum(&full);
    full.extend(sum.iter().map(|&b| char::from(b)));
    let prefix = full[..kind.prefix().len() + DISPLAY_CHARS].to_owned();
    let hash = api_key_hash(&full);
    Ok(NewApiKey { full, prefix, hash })
}

/// Generate a key with aws-lc-rs's CSPRNG.
///
/// # Panics
/// Only if the operating system's random number generator fails, which AWS-LC itself treats as
/// fatal; use [`try_generate_api_key`] to get an error instead.
pub fn generate_api_key(kind: ApiKeyKind) -> NewApiKey {
    match try_generate_api_key(kind) {
        Ok(k) => k,
        Err(_) => panic!("system random number generator failed"),
    }
}

/// Validate a presented key's prefix, length, alphabet and checksum — in that order, before
/// hashing — and return its kind and the SHA-256 to look up.
pub fn parse_api_key(key: &str) -> Result<(ApiKeyKind, [u8; 32]), ApiKeyError> {
    let kind = [ApiKeyKind::Publishable, ApiKeyKind::Secret]
        .into_iter()
        .find(|k| key.starts_with(k.prefix()))
        .ok_or(ApiKeyError::Malformed)?;
    if key.len() != kind.key_len() {
        return Err(ApiKeyError::Malformed);
    }
    let rest = &key.as_bytes()[kind.prefix().len()..];
    if !rest.iter().all(u8::is_ascii_alphanumeric) {
        return Err(ApiKeyError::Malformed);
    }
    let (body, sum) = key.split_at(key.len() - API_KEY_CHECKSUM_CHARS);
    if checksum(body).as_slice() != sum.as_bytes() {
        return Err(ApiKeyError::BadChecksum);
    }
    Ok((kind, api_key_hash(key)))
}
