//! Finding a presented API key among the stored ones: by the SHA-256 of the key, in a hash map,
//! so that a lookup costs the same with one key or a hundred thousand.
//!
//! Why a lookup by hash is safe where a password table would need a constant-time scan: a key is
//! 190 random bits and only its SHA-256 is stored. The time a lookup takes can depend only on
//! how the SHA-256 of the *presented* string compares with the stored hashes (which bucket, how
//! many bytes of a candidate agree). An attacker who learned that exactly would know a few bits
//! of some stored hash, and a stored hash — even a whole one — gives no handle on its key: a
//! preimage of SHA-256 over 190 random bits is out of reach. The map is built only from stored
//! hashes, which come from the CSPRNG through SHA-256 (or are a legacy JWT's hash): presented
//! keys are looked up, never inserted, so no presented value can lengthen a probe sequence.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rustc_hash::FxHasher;

use crate::api_key::{api_key_hash, parse_api_key, ApiKeyError, ApiKeyKind};

type Fx = BuildHasherDefault<FxHasher>;

/// A presented credential, checked offline (no table read yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentedKey {
    /// An `sb_publishable_…` / `sb_secret_…` key with a valid checksum.
    Key { kind: ApiKeyKind, hash: [u8; 32] },
    /// Something shaped like a JWT: perhaps a legacy anon / service_role key, stored under the
    /// SHA-256 of the whole token.
    LegacyJwt { hash: [u8; 32] },
}

impl PresentedKey {
    /// The SHA-256 it is stored under, if it is stored at all.
    pub fn hash(&self) -> &[u8; 32] {
        match self {
            PresentedKey::Key { hash, .. } | PresentedKey::LegacyJwt { hash } => hash,
        }
    }
}

/// Is `key` shaped like a compact JWS (`eyJ…` with two dots): a legacy API key, not a new one?
pub fn looks_like_jwt(key: &str) -> bool {
    key.starts_with("eyJ") && key.bytes().filter(|&b| b == b'.').count() == 2
}

/// Classify a presented key: longer than `max_bytes` (far longer than any key or legacy JWT) is
/// malformed before anything is hashed; a JWT shape is a legacy candidate; anything else must be
/// a well-formed key with a valid checksum ([`parse_api_key`]).
pub fn presented_key(key: &str, max_bytes: usize) -> Result<PresentedKey, ApiKeyError> {
    if key.len() > max_bytes {
        return Err(ApiKeyError::Malformed);
    }
    if looks_like_jwt(key) {
        return Ok(PresentedKey::LegacyJwt {
            hash: api_key_hash(key),
        });
    }
    let (kind, hash) = parse_api_key(key)?;
    Ok(PresentedKey::Key { kind, hash })
}

/// The stored keys, found by hash (a verification) or by id (a token minted from a key).
#[derive(Clone, Debug)]
pub struct ApiKeyIndex<V> {
    entries: Vec<V>,
    by_hash: HashMap<[u8; 32], u32, Fx>,
    by_id: HashMap<[u8; 16], u32, Fx>,
}

impl<V> Default for ApiKeyIndex<V> {
    fn default() -> Self {
        ApiKeyIndex {
            entries: Vec::new(),
            by_hash: HashMap::default(),
            by_id: HashMap::default(),
        }
    }
}

impl<V> ApiKeyIndex<V> {
    /// An index of `(hash, id, value)` rows. Hashes and ids are unique in the table; should a
    /// row repeat one anyway, the later row wins, as it did in the scan this replaces.
    pub fn new(rows: impl IntoIterator<Item = ([u8; 32], [u8; 16], V)>) -> Self {
        let rows = rows.into_iter();
        let mut index = ApiKeyIndex {
            entries: Vec::with_capacity(rows.size_hint().0),
            by_hash: HashMap::with_capacity_and_hasher(rows.size_hint().0, Fx::default()),
            by_id: HashMap::with_capacity_and_hasher(rows.size_hint().0, Fx::default()),
        };
        for (hash, id, value) in rows {
            // More than u32::MAX keys cannot be held in a backend's memory anyway.
            let Ok(at) = u32::try_from(index.entries.len()) else {
                break;
            };
            index.entries.push(value);
            index.by_hash.insert(hash, at);
            index.by_id.insert(id, at);
        }
        index
    }

    /// The entry stored under `hash`.
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<&V> {
        self.by_hash
            .get(hash)
            .and_then(|&at| self.entries.get(at as usize))
    }

    /// The entry with id `id`.
    pub fn by_id(&self, id: &[u8; 16]) -> Option<&V> {
        self.by_id
            .get(id)
            .and_then(|&at| self.entries.get(at as usize))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes the index itself holds (entries inline, both maps), without what the entries
    /// point to: an upper estimate of hashbrown's layout (one control byte per bucket).
    pub fn table_bytes(&self) -> usize {
        fn map_bytes<K, T>(m: &HashMap<K, T, Fx>) -> usize {
            // hashbrown keeps capacity ≤ 7/8 of its buckets.
            let buckets = (m.capacity() * 8 / 7).next_power_of_two();
            buckets * (std::mem::size_of::<(K, T)>() + 1)
        }
        self.entries.capacity() * std::mem::size_of::<V>()
            + map_bytes(&self.by_hash)
            + map_bytes(&self.by_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &V> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::generate_api_key;

    fn id(n: u32) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id
    }

    #[test]
    fn finds_each_key_by_hash_and_id() {
        let keys: Vec<_> = (0..1000)
            .map(|i| {
                let kind = if i % 2 == 0 {
                    ApiKeyKind::Publishable
                } else {
                    ApiKeyKind::Secret
                };
                generate_api_key(kind)
            })
            .collect();
        let index = ApiKeyIndex::new(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.hash, id(i as u32), i)),
        );
        assert_eq!(index.len(), 1000);
        for (i, k) in keys.iter().enumerate() {
            let presented = presented_key(&k.full, 4096).unwrap();
            assert_eq!(index.by_hash(presented.hash()), Some(&i));
            assert_eq!(index.by_id(&id(i as u32)), Some(&i));
        }
    }

    #[test]
    fn an_unknown_key_or_id_is_not_found() {
        let stored = generate_api_key(ApiKeyKind::Secret);
        let index = ApiKeyIndex::new([(stored.hash, id(1), "stored")]);
        let other = generate_api_key(ApiKeyKind::Secret);
        assert_eq!(index.by_hash(&other.hash), None);
        assert_eq!(index.by_id(&id(2)), None);
        // The same body under the other kind's prefix is another key (and fails its checksum).
        let swapped = stored.full.replacen("sb_secret_", "sb_publishable_", 1);
        assert_eq!(presented_key(&swapped, 4096), Err(ApiKeyError::BadChecksum));
        assert!(ApiKeyIndex::<u8>::default().by_hash(&stored.hash).is_none());
    }

    #[test]
    fn a_repeated_hash_keeps_the_later_row() {
        let index = ApiKeyIndex::new([([7; 32], id(1), "first"), ([7; 32], id(2), "second")]);
        assert_eq!(index.by_hash(&[7; 32]), Some(&"second"));
        assert_eq!(index.by_id(&id(1)), Some(&"first"));
    }

    #[test]
    fn presented_keys_are_classified_offline() {
        let key = generate_api_key(ApiKeyKind::Publishable);
        assert_eq!(
            presented_key(&key.full, 4096),
            Ok(PresentedKey::Key {
                kind: ApiKeyKind::Publishable,
                hash: key.hash
            })
        );
        // Too long: refused before hashing, whatever it is.
        assert_eq!(
            presented_key(&key.full, key.full.len() - 1),
            Err(ApiKeyError::Malformed)
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln";
        assert_eq!(
            presented_key(jwt, 4096),
            Ok(PresentedKey::LegacyJwt {
                hash: api_key_hash(jwt)
            })
        );
        assert!(looks_like_jwt(jwt));
        assert!(!looks_like_jwt("eyJ.only-one-dot"));
        assert!(!looks_like_jwt("abc.def.ghi"));
        assert_eq!(
            presented_key("sb_secret_short", 4096),
            Err(ApiKeyError::Malformed)
        );
        assert_eq!(presented_key("", 4096), Err(ApiKeyError::Malformed));
    }

    #[test]
    fn memory_grows_with_the_keys_held() {
        let small = ApiKeyIndex::new([([1; 32], id(1), 0u64)]);
        let big = ApiKeyIndex::new((0..10_000u32).map(|i| {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_le_bytes());
            (h, id(i), 0u64)
        }));
        assert!(small.table_bytes() > 0);
        // At least the hashes, ids and values, at most a few times that.
        let inline = 10_000 * (32 + 16 + 8);
        assert!(big.table_bytes() >= inline, "{}", big.table_bytes());
        assert!(big.table_bytes() <= 4 * inline, "{}", big.table_bytes());
    }
}
