//! Target `seal`: [`RootKey::open`] on stored bytes (a row of the API-key table, which a
//! superuser or a restored dump can alter) and the [`RootKey::seal`] round trip behind
//! `auth.reveal_api_key`.
//!
//! Input: context‖0xFF‖value (no 0xFF: the whole input is the value, the context empty). The
//! value is opened as a sealed value under a fixed root key, sealed and reopened, and also tried
//! as a root key.
//!
//! Properties: opening never panics; what is sealed opens to itself under the same key and
//! context only — another context, a flipped byte or a truncation is `Corrupt`, another root
//! key is `OtherRootKey`; a root key shorter than [`MIN_ROOT_KEY_BYTES`] is refused.

use crate::SEP;
use pg_auth_keys_jose::{RootKey, SealError, MIN_ROOT_KEY_BYTES};
use std::sync::OnceLock;

fn keys() -> &'static (RootKey, RootKey) {
    static KEYS: OnceLock<(RootKey, RootKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            RootKey::derive(b"fuzz root key: 32 bytes or more!").unwrap(),
            RootKey::derive(b"another root key, also 32 bytes+").unwrap(),
        )
    })
}

pub fn run(data: &[u8]) {
    let (context, value) = match data.iter().position(|&b| b == SEP) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let (key, other) = keys();
    if let Ok(plain) = key.open(context, value) {
        assert_eq!(key.seal(context, &plain).map(|s| s.len()), Ok(value.len()));
    }
    let _ = other.open(context, value);

    let sealed = key.seal(context, value).expect("seal");
    assert_eq!(
        key.open(context, &sealed).as_deref(),
        Ok(value),
        "round trip"
    );
    assert_eq!(other.open(context, &sealed), Err(SealError::OtherRootKey));
    let mut wrong_context = context.to_vec();
    wrong_context.push(b'x');
    assert_eq!(key.open(&wrong_context, &sealed), Err(SealError::Corrupt));
    let i = data.len() % sealed.len();
    let mut flipped = sealed.clone();
    flipped[i] ^= 1 << (data.len() % 8);
    assert!(
        key.open(context, &flipped).is_err(),
        "flipped byte {i} opened"
    );
    assert!(
        key.open(context, &sealed[..sealed.len() - 1]).is_err(),
        "truncation opened"
    );

    match RootKey::derive(value) {
        Ok(_) => assert!(value.len() >= MIN_ROOT_KEY_BYTES),
        Err(e) => {
            assert_eq!(e, SealError::RootKeyTooShort);
            assert!(value.len() < MIN_ROOT_KEY_BYTES);
        }
    }
}
