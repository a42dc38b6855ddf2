//! Strict base64url (RFC 7515 §2 and Appendix C): the URL-safe alphabet, no padding, no
//! whitespace, and the unused low bits of the last character must be zero. That makes the
//! encoding canonical — one byte string has exactly one accepted encoding — so nobody can
//! alter a token's text while keeping its signature (Wycheproof "ModifiedUnusedBitsInPayload").

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const STRICT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decode canonical unpadded base64url; `None` for anything else.
pub fn decode_canonical(s: &str) -> Option<Vec<u8>> {
    decode_bytes(s.as_bytes())
}

pub(crate) fn decode_bytes(s: &[u8]) -> Option<Vec<u8>> {
    // Canonical without re-encoding: the engine refuses padding, characters outside the URL-safe
    // alphabet, a length of 1 mod 4, and non-zero unused bits in the last character (the only
    // freedom unpadded base64url leaves), so each accepted text is the one encoding of its bytes.
    // The `canonical_only` test below and the `b64` fuzz target (a reference decoder, and every
    // decoded text re-encoding to itself) hold it to that.
    STRICT.decode(s).ok()
}

/// Encode as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    STRICT.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_only() {
        assert_eq!(decode_canonical("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(decode_canonical("Zm8").as_deref(), Some(&b"fo"[..]));
        assert_eq!(decode_canonical("").as_deref(), Some(&b""[..]));
        assert_eq!(decode_canonical("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        // padding, the standard alphabet, whitespace, impossible lengths
        for bad in [
            "Zm8=", "Zg==", "+/8", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "Zm9?",
        ] {
            assert_eq!(decode_canonical(bad), None, "{bad:?}");
        }
        // non-zero unused bits: "Zm9" decodes to "fo" only when the last 2 bits are zero
        assert_eq!(decode_canonical("Zm9"), None);
        assert_eq!(decode_canonical("Zh"), None);
        assert_eq!(encode(b"fo"), "Zm8");
    }

    /// Every text of up to 3 characters from the alphabet (every possible last group) decodes
    /// exactly when it is the encoding of what it decodes to.
    #[test]
    fn accepted_means_canonical_exhaustively() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
        let mut accepted = 0;
        for len in 1..=3 {
            let mut idx = vec![0usize; len];
            loop {
                let text: String = idx.iter().map(|&i| alphabet[i] as char).collect();
                let decoded = decode_canonical(&text);
                let canonical = STRICT.decode(&text).ok().filter(|b| encode(b) == text);
                assert_eq!(decoded, canonical, "{text:?}");
                accepted += usize::from(decoded.is_some());
                let Some(p) = idx.iter().rposition(|&i| i + 1 < alphabet.len()) else {
                    break;
                };
                idx[p] += 1;
                idx[p + 1..].iter_mut().for_each(|i| *i = 0);
            }
        }
        // 2 characters: 64 × 4 canonical texts; 3 characters: 64 × 64 × 16.
        assert_eq!(accepted, 64 * 4 + 64 * 64 * 16);
    }
}
