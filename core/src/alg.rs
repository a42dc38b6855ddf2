//! The JWS algorithms we know (RFC 7518 §3, RFC 8037 §3.1). `none` is deliberately absent:
//! RFC 7518 §3.6 makes it opt-in, and we never opt in.

/// A JWS `alg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The family of key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

impl Alg {
    /// Every algorithm, in code order.
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Exact, case-sensitive JOSE names (RFC 7515 §4.1.1: "alg" values are case-sensitive).
    /// `none`, `None`, `NONE` and anything unknown give `None`.
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Algorithms of keys made in the database (`auth.create_key`).
    pub fn can_create(self) -> bool {
        matches!(self, Alg::ES256 | Alg::RS256 | Alg::EdDSA | Alg::HS256)
    }

    pub fn is_hmac(self) -> bool {
        self.family() == Family::Hmac
    }

    /// Stable code for shared memory; 0 is never used so that a zeroed slot means "empty".
    pub fn to_u8(self) -> u8 {
        match self {
            Alg::HS256 => 1,
            Alg::HS384 => 2,
            Alg::HS512 => 3,
            Alg::RS256 => 4,
            Alg::RS384 => 5,
            Alg::RS512 => 6,
            Alg::PS256 => 7,
            Alg::PS384 => 8,
            Alg::PS512 => 9,
            Alg::ES256 => 10,
            Alg::ES384 => 11,
            Alg::EdDSA => 12,
        }
    }

    pub fn from_u8(v: u8) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.to_u8() == v)
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => Family::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                Family::Rsa
            }
            Alg::ES256 | Alg::ES384 => Family::Ec,
            Alg::EdDSA => Family::Ed,
        }
    }

    /// Minimum HMAC key length: RFC 7518 §3.2 requires a key at least as long as the hash.
    pub(crate) fn hmac_min_len(self) -> usize {
        match self {
            Alg::HS384 => 48,
            Alg::HS512 => 64,
            _ => 32,
        }
    }

    /// Size in bytes of a field element / scalar for the ECDSA curves (RFC 7518 §3.4).
    pub(crate) fn ec_field_len(self) -> usize {
        match self {
            Alg::ES384 => 48,
            _ => 32,
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Alg::HS256 => J::HS256,
            Alg::HS384 => J::HS384,
            Alg::HS512 => J::HS512,
            Alg::RS256 => J::RS256,
            Alg::RS384 => J::RS384,
            Alg::RS512 => J::RS512,
            Alg::PS256 => J::PS256,
            Alg::PS384 => J::PS384,
            Alg::PS512 => J::PS512,
            Alg::ES256 => J::ES256,
            Alg::ES384 => J::ES384,
            Alg::EdDSA => J::EdDSA,
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for a in Alg::ALL {
            assert_eq!(Alg::parse(a.as_str()), Some(a));
            assert_eq!(Alg::from_u8(a.to_u8()), Some(a));
        }
        assert_eq!(Alg::from_u8(0), None);
        assert_eq!(Alg::from_u8(13), None);
        for bad in [
            "none", "None", "NONE", "hs256", "Hs256", "ES512", "ES256 ", "", "eddsa",
        ] {
            assert_eq!(Alg::parse(bad), None, "{bad}");
        }
        let creatable: Vec<_> = Alg::ALL.into_iter().filter(|a| a.can_create()).collect();
        assert_eq!(creatable, [Alg::HS256, Alg::RS256, Alg::ES256, Alg::EdDSA]);
    }
}
