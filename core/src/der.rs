//! A minimal DER reader for the few structures aws-lc-rs does not unwrap for us: the RSA
//! `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5) and the key inside a
//! `SubjectPublicKeyInfo` (RFC 5280 §4.1). Only definite, minimal lengths are accepted; all
//! cryptographic validation is left to aws-lc-rs.

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// OID 1.2.840.113549.1.1.1 rsaEncryption.
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// OID 1.2.840.10045.2.1 id-ecPublicKey.
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// OID 1.2.840.10045.3.1.7 prime256v1 (P-256).
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// OID 1.3.132.0.34 secp384r1 (P-384).
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// OID 1.3.101.112 id-Ed25519 (RFC 8410).
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A cursor over DER bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Read one TLV with the expected tag and return its contents.
    pub(crate) fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&t, rest) = self.rest.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            // minimal encoding: long form only when needed, no leading zero byte
            if len < 0x80 || rest[0] == 0 {
                return None;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (content, after) = rest.split_at(len);
        self.rest = after;
        Some(content)
    }

    /// Read a TLV with any tag (used to skip optional parameters).
    pub(crate) fn skip_any(&mut self) -> Option<()> {
        let tag = *self.rest.first()?;
        self.read(tag).map(|_| ())
    }
}

/// The algorithm OID, its parameter OID (if the parameter is an OID) and the key bytes of a
/// `SubjectPublicKeyInfo`.
pub(crate) struct Spki<'a> {
    pub algorithm: &'a [u8],
    pub parameter: Option<&'a [u8]>,
    pub key: &'a [u8],
}

pub(crate) fn parse_spki(der: &[u8]) -> Option<Spki<'_>> {
    let mut outer = Reader::new(der);
    let mut spki = Reader::new(outer.read(TAG_SEQUENCE)?);
    if !outer.is_empty() {
        return None;
    }
    let mut alg = Reader::new(spki.read(TAG_SEQUENCE)?);
    let algorithm = alg.read(TAG_OID)?;
    let parameter = if alg.is_empty() {
        None
    } else if alg.rest.first() == Some(&TAG_OID) {
        alg.read(TAG_OID)
    } else {
        alg.skip_any()?;
        None
    };
    if !alg.is_empty() {
        return None;
    }
    let bits = spki.read(TAG_BIT_STRING)?;
    if !spki.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    Some(Spki {
        algorithm,
        parameter,
        key,
    })
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (version 0 or 1).
pub(crate) fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let mut outer = Reader::new(der);
    let mut info = Reader::new(outer.read(TAG_SEQUENCE)?);
    if !outer.is_empty() {
        return None;
    }
    let version = info.read(TAG_INTEGER)?;
    if version != [0] && version != [1] {
        return None;
    }
    info.read(TAG_SEQUENCE)?;
    info.read(TAG_OCTET_STRING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(
            Reader::new(&[0x04, 0x01, 0xaa]).read(TAG_OCTET_STRING),
            Some(&[0xaa][..])
        );
        assert_eq!(
            Reader::new(&[0x04, 0x02, 0xaa]).read(TAG_OCTET_STRING),
            None
        );
        assert_eq!(
            Reader::new(&[0x04, 0x81, 0x01, 0xaa]).read(TAG_OCTET_STRING),
            None
        );
        assert_eq!(Reader::new(&[0x04, 0x80]).read(TAG_OCTET_STRING), None);
        assert_eq!(Reader::new(&[0x04, 0x01, 0xaa]).read(TAG_INTEGER), None);
        assert_eq!(
            Reader::new(&[0x04, 0x85, 1, 1, 1, 1, 1]).read(TAG_OCTET_STRING),
            None
        );
        let long: Vec<u8> = [0x04, 0x81, 0x80].into_iter().chain([7u8; 128]).collect();
        assert_eq!(
            Reader::new(&long).read(TAG_OCTET_STRING).map(<[u8]>::len),
            Some(128)
        );
    }
}
