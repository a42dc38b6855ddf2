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
    // The engine already refuses padding, foreign characters and non-zero trailing bits; the
    // re-encoding check below is a cheap belt-and-braces guarantee of canonical form.
    let out = STRICT.decode(s).ok()?;
    if STRICT.encode(&out).as_bytes() != s {
        return None;
    }
    Some(out)
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
}
