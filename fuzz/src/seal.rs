//! Target `seal`: [`Kek::open`] on stored bytes (a row of the key or API-key tables, which a
//! superuser or a restored dump can alter) and the [`Kek::seal`] round trip behind every sealed
//! private key, HMAC secret and revealable API key.
//!
//! Input: context‖0xFF‖value (no 0xFF: the whole input is the value, the context empty). The
//! value is opened as a sealed value under a fixed KEK for every purpose, sealed and reopened,
//! and also tried as KEK material.
//!
//! Properties: opening never panics; what is sealed opens to itself under the same KEK, purpose
//! and context only — another context or purpose, a flipped byte or a truncation is refused,
//! another KEK is `KekUnavailable` naming the sealing KEK's id; KEK material shorter than
//! [`MIN_ROOT_KEY_BYTES`] is refused.

use crate::SEP;
use pg_auth_keys_core::{open_with, Kek, Purpose, SealError, MIN_ROOT_KEY_BYTES};
use std::sync::OnceLock;

fn keys() -> &'static (Kek, Kek) {
    static KEYS: OnceLock<(Kek, Kek)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            Kek::derive(b"fuzz root key: 32 bytes or more!").unwrap(),
            Kek::derive(b"another root key, also 32 bytes+").unwrap(),
        )
    })
}

const PURPOSES: [Purpose; 3] = [Purpose::PrivateKey, Purpose::HmacSecret, Purpose::ApiKey];

pub fn run(data: &[u8]) {
    let (context, value) = match data.iter().position(|&b| b == SEP) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let (key, other) = keys();
    for purpose in PURPOSES {
        if let Ok(plain) = key.open(purpose, context, value) {
            assert_eq!(
                key.seal(purpose, context, &plain).map(|s| s.len()),
                Ok(value.len())
            );
        }
        let _ = other.open(purpose, context, value);
        let _ = open_with(&[other, key], purpose, context, value);
    }

    let purpose = PURPOSES[data.len() % PURPOSES.len()];
    let sealed = key.seal(purpose, context, value).expect("seal");
    assert_eq!(
        key.open(purpose, context, &sealed).as_deref(),
        Ok(value),
        "round trip"
    );
    assert_eq!(
        open_with(&[other, key], purpose, context, &sealed).as_deref(),
        Ok(value),
        "round trip through the ring"
    );
    assert_eq!(
        other.open(purpose, context, &sealed),
        Err(SealError::KekUnavailable(key.id()))
    );
    let mut wrong_context = context.to_vec();
    wrong_context.push(b'x');
    assert_eq!(
        key.open(purpose, &wrong_context, &sealed),
        Err(SealError::Corrupt)
    );
    for wrong in PURPOSES.into_iter().filter(|p| *p != purpose) {
        assert_eq!(key.open(wrong, context, &sealed), Err(SealError::Corrupt));
    }
    let i = data.len() % sealed.len();
    let mut flipped = sealed.clone();
    flipped[i] ^= 1 << (data.len() % 8);
    assert!(
        key.open(purpose, context, &flipped).is_err(),
        "flipped byte {i} opened"
    );
    assert!(
        key.open(purpose, context, &sealed[..sealed.len() - 1])
            .is_err(),
        "truncation opened"
    );

    match Kek::derive(value) {
        Ok(_) => assert!(value.len() >= MIN_ROOT_KEY_BYTES),
        Err(e) => {
            assert_eq!(e, SealError::RootKeyTooShort);
            assert!(value.len() < MIN_ROOT_KEY_BYTES);
        }
    }
}
