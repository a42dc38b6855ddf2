//! Target `b64`: canonical base64url ([`b64url_decode`], [`b64url_encode`], RFC 7515 §2),
//! compared with a reference decoder written from the rule: URL-safe alphabet, no padding, a
//! length that is not 1 mod 4, and zero unused bits in the last character.
//!
//! Input: the text to decode (invalid UTF-8 replaced); the raw bytes are also encoded.
//!
//! Properties: decoding agrees with the reference; decoded text re-encodes to itself; encoding
//! any bytes decodes back to them.

use pg_auth_keys_core::{b64url_decode, b64url_encode};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The reference decoder.
pub fn reference(s: &str) -> Option<Vec<u8>> {
    let mut values = Vec::with_capacity(s.len());
    for b in s.bytes() {
        values.push(ALPHABET.iter().position(|&a| a == b)? as u32);
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut chunks = values.chunks_exact(4);
    for c in &mut chunks {
        let v = c[0] << 18 | c[1] << 12 | c[2] << 6 | c[3];
        out.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    match *chunks.remainder() {
        [] => {}
        [_] => return None,
        [a, b] => {
            if b & 0xf != 0 {
                return None;
            }
            out.push((a << 2 | b >> 4) as u8);
        }
        [a, b, c] => {
            if c & 0x3 != 0 {
                return None;
            }
            let v = a << 18 | b << 12 | c << 6;
            out.extend_from_slice(&v.to_be_bytes()[1..3]);
        }
        _ => unreachable!(),
    }
    Some(out)
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let decoded = b64url_decode(&text);
    assert_eq!(decoded, reference(&text), "decoders disagree on {text:?}");
    if let Some(bytes) = &decoded {
        assert_eq!(
            b64url_encode(bytes),
            text,
            "decoded text does not re-encode"
        );
    }
    let encoded = b64url_encode(data);
    assert_eq!(b64url_decode(&encoded).as_deref(), Some(data), "round trip");
}
