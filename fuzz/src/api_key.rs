//! Target `api_key`: [`parse_api_key`], the first step of `auth.verify_api_key` (API.md §4),
//! compared with a small reference implementation of the key format written from its
//! description (`core/src/api_key.rs`): prefix `sb_publishable_` or `sb_secret_`, 32 base62
//! characters, then the CRC-32 of everything before as 6 base62 digits, most significant first;
//! the lookup hash is the SHA-256 of the whole key.
//!
//! Input:
//! - first byte below 0x80: the whole input is the presented key (invalid UTF-8 replaced);
//! - `0x80 | k`: body = the characters after the prefix of kind `k & 1` (0 publishable,
//!   1 secret); the correct checksum is appended, so mutations of the body get past it.
//!
//! Properties: `parse_api_key` and the reference agree exactly — same kind and hash, or the same
//! error (`Malformed` for prefix, length or alphabet; `BadChecksum` for the checksum);
//! `presented_key` (what `auth.verify_api_key` checks before any lookup) is `Malformed` past its
//! length bound, a `LegacyJwt` with the SHA-256 of the whole input for a JWT shape (`eyJ…`, two
//! dots), and otherwise `parse_api_key`'s answer; and an `ApiKeyIndex` holding that hash finds
//! it, while one holding any other hash does not.

use crate::STRUCTURED;
use aws_lc_rs::digest;
use pg_auth_keys_core::{
    parse_api_key, presented_key, ApiKeyError, ApiKeyIndex, ApiKeyKind, PresentedKey,
};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The reference checksum: CRC-32 (IEEE) as 6 base62 digits, most significant first.
pub fn checksum(text: &str) -> String {
    let mut v = u64::from(crc32fast::hash(text.as_bytes()));
    let mut digits = [0u8; 6];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8(digits.to_vec()).unwrap()
}

fn reference(key: &str) -> Result<(ApiKeyKind, [u8; 32]), ApiKeyError> {
    let (kind, rest) = if let Some(rest) = key.strip_prefix("sb_publishable_") {
        (ApiKeyKind::Publishable, rest)
    } else if let Some(rest) = key.strip_prefix("sb_secret_") {
        (ApiKeyKind::Secret, rest)
    } else {
        return Err(ApiKeyError::Malformed);
    };
    if rest.len() != 38 || !rest.bytes().all(|b| BASE62.contains(&b)) {
        return Err(ApiKeyError::Malformed);
    }
    let (body, sum) = key.split_at(key.len() - 6);
    if checksum(body) != sum {
        return Err(ApiKeyError::BadChecksum);
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, key.as_bytes()).as_ref());
    Ok((kind, hash))
}

/// A key of `kind` with `body` after the prefix and the correct checksum appended.
pub fn with_checksum(kind: ApiKeyKind, body: &str) -> String {
    let mut key = format!("{}{body}", kind.prefix());
    key += &checksum(&key);
    key
}

pub fn run(data: &[u8]) {
    let key = match data.split_first() {
        Some((&sel, body)) if sel >= STRUCTURED => {
            let kind = if sel & 1 == 0 {
                ApiKeyKind::Publishable
            } else {
                ApiKeyKind::Secret
            };
            with_checksum(kind, &String::from_utf8_lossy(body))
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    let got = parse_api_key(&key);
    let want = reference(&key);
    assert_eq!(got, want, "parse_api_key disagrees on {key:?}");

    // The offline checks of verification, and the lookup.
    const MAX: usize = 64;
    let sha = || {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest::digest(&digest::SHA256, key.as_bytes()).as_ref());
        hash
    };
    let jwt_shaped = key.starts_with("eyJ") && key.bytes().filter(|&b| b == b'.').count() == 2;
    let expected = if key.len() > MAX {
        Err(ApiKeyError::Malformed)
    } else if jwt_shaped {
        Ok(PresentedKey::LegacyJwt { hash: sha() })
    } else {
        want.map(|(kind, hash)| PresentedKey::Key { kind, hash })
    };
    let presented = presented_key(&key, MAX);
    assert_eq!(presented, expected, "presented_key disagrees on {key:?}");
    if let Ok(p) = presented {
        let hash = *p.hash();
        let mut other = hash;
        other[31] ^= 1;
        let index = ApiKeyIndex::new([(hash, [1; 16], "found"), (other, [2; 16], "other")]);
        assert_eq!(index.by_hash(&hash), Some(&"found"));
        let without = ApiKeyIndex::new([(other, [2; 16], "other")]);
        assert_eq!(without.by_hash(&hash), None);
    }
}
