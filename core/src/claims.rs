//! JWT claim rules (RFC 7519 §4.1) as the README states them ("Tokens", "Settings").
//!
//! `exp` is required: a token without an expiry would stay valid forever, and the revocation
//! guarantee only covers keys. `exp`, `nbf` and `iat` must be JSON numbers (NumericDate,
//! RFC 7519 §2); a string such as `"9999999999"` is refused rather than coerced, because two
//! parsers that coerce differently disagree about whether the token is live. Comparisons run in
//! `f64` on values that are already finite (serde_json refuses overflowing literals), so
//! fractional seconds, negative numbers and 1e300 are all handled without overflow or panic.

use crate::error::TokenError;
use crate::role_claim::RoleClaim;
use crate::roles::{RoleList, DEFAULT_ALLOWED_ROLES};
use serde_json::{Map, Value};

/// What a verified token's claims must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRules {
    /// Current time, seconds since the Unix epoch.
    pub now: i64,
    /// Allowed clock skew in seconds (`auth.leeway`); negative values count as 0.
    pub leeway: i64,
    /// `auth.audience`: when set, `aud` must contain it exactly.
    pub audience: Option<String>,
    /// `auth.issuer`: when set, `iss` must equal it.
    pub issuer: Option<String>,
    /// `auth.role_claim`: where the role is, normally the top-level member `role`.
    pub role_claim: RoleClaim,
    /// `auth.allowed_roles`: a role claim present at `role_claim` must be a string naming one.
    pub allowed_roles: RoleList,
}

impl ClaimRules {
    /// The defaults of the README's "Settings" at time `now`: leeway 30 s, no audience or issuer,
    /// role claim `role`, roles `anon`, `authenticated`, `service_role`.
    pub fn with_defaults(now: i64) -> ClaimRules {
        ClaimRules {
            now,
            leeway: 30,
            audience: None,
            issuer: None,
            role_claim: RoleClaim::default(),
            allowed_roles: RoleList::parse(DEFAULT_ALLOWED_ROLES),
        }
    }
}

/// A NumericDate member (`exp`, `nbf`, `iat`) as found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumericClaim {
    Absent,
    Number(f64),
    /// Present but not a JSON number.
    NotNumber,
}

impl NumericClaim {
    fn of(claims: &Map<String, Value>, name: &str) -> NumericClaim {
        match claims.get(name) {
            None => NumericClaim::Absent,
            Some(Value::Number(n)) => n
                .as_f64()
                .map_or(NumericClaim::NotNumber, NumericClaim::Number),
            Some(_) => NumericClaim::NotNumber,
        }
    }

    /// The value when it is a number (what `Value::as_f64` gives).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            NumericClaim::Number(v) => Some(v),
            _ => None,
        }
    }

    fn checked(self, name: &'static str) -> Result<Option<f64>, TokenError> {
        match self {
            NumericClaim::Absent => Ok(None),
            NumericClaim::Number(v) => Ok(Some(v)),
            NumericClaim::NotNumber => Err(TokenError::BadClaimType(name)),
        }
    }
}

/// The members of a claims set that [`check_claims`] reads, except the role: taken out once, so
/// that a verified token can be checked again (a cache hit, at another time or under other
/// settings) without keeping its whole claims set. The role is selected by the caller, since
/// its path is a setting.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimValues {
    pub exp: NumericClaim,
    pub nbf: NumericClaim,
    pub iat: NumericClaim,
    aud: Option<Value>,
    iss: Option<Value>,
}

impl ClaimValues {
    pub fn of(claims: &Map<String, Value>) -> ClaimValues {
        ClaimValues {
            exp: NumericClaim::of(claims, "exp"),
            nbf: NumericClaim::of(claims, "nbf"),
            iat: NumericClaim::of(claims, "iat"),
            aud: claims.get("aud").cloned(),
            iss: claims.get("iss").cloned(),
        }
    }
}

/// Check `claims` against `rules`; the first failing rule is returned.
pub fn check_claims(claims: &Map<String, Value>, rules: &ClaimRules) -> Result<(), TokenError> {
    check_claim_values(
        &ClaimValues::of(claims),
        rules.role_claim.select(claims),
        rules,
    )
}

/// [`check_claims`] on the values taken out of a claims set and its role claim as `rules.role_claim`
/// selects it (None: absent).
pub fn check_claim_values(
    values: &ClaimValues,
    role: Option<&Value>,
    rules: &ClaimRules,
) -> Result<(), TokenError> {
    let exp = values.exp.checked("exp")?.ok_or(TokenError::MissingExp)?;
    let nbf = values.nbf.checked("nbf")?;
    let iat = values.iat.checked("iat")?;
    // i64 -> f64 is exact for any realistic time; the loss above 2^53 cannot overflow.
    let now = rules.now as f64;
    let leeway = rules.leeway.max(0) as f64;
    if now > exp + leeway {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| now + leeway < nbf) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now + leeway) {
        return Err(TokenError::IssuedInFuture);
    }

    let audiences: Option<Vec<&str>> = match &values.aud {
        None => None,
        Some(Value::String(s)) => Some(vec![s.as_str()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().ok_or(TokenError::BadClaimType("aud")))
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(TokenError::BadClaimType("aud")),
    };
    if let Some(want) = &rules.audience {
        if !audiences.is_some_and(|a| a.contains(&want.as_str())) {
            return Err(TokenError::BadAudience);
        }
    }

    let iss = match &values.iss {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(TokenError::BadClaimType("iss")),
    };
    if let Some(want) = &rules.issuer {
        if iss != Some(want.as_str()) {
            return Err(TokenError::BadIssuer);
        }
    }

    // Whatever the path selects, at any depth: PostgREST switches to the role it finds there.
    if let Some(role) = role {
        let allowed = role
            .as_str()
            .is_some_and(|r| rules.allowed_roles.contains(r));
        if !allowed {
            return Err(TokenError::RoleNotAllowed);
        }
    }
    Ok(())
}

/// The 16 bytes of a UUID written as 32 hex digits (either case) and four hyphens, 36
/// characters in all (the canonical 8-4-4-4-12 form, and the hyphen placements PostgreSQL's
/// `uuid` input also accepts); None for any other text. Claims carry UUIDs as text (`sub`,
/// `api_key_id`).
pub fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 36 || b.iter().filter(|&&c| c == b'-').count() != 4 {
        return None;
    }
    let mut hex = b.iter().filter(|&&c| c != b'-');
    let mut out = [0u8; 16];
    for byte in out.iter_mut() {
        let hi = char::from(*hex.next()?).to_digit(16)?;
        let lo = char::from(*hex.next()?).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod uuid_tests {
    use super::uuid_bytes;

    #[test]
    fn canonical_uuids_only() {
        let id = uuid_bytes("00112233-4455-6677-8899-AaBbCcDdEeFf").unwrap();
        assert_eq!(
            id,
            [
                0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff
            ]
        );
        assert_eq!(uuid_bytes("0011223-34455-6677-8899-aabbccddeeff"), Some(id));
        for bad in [
            "",
            "00112233445566778899aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeef",
            "00112233-4455-6677-8899-aabbccddeefg",
            "--112233-4455-6677-8899-aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddee-f",
            "+0112233-4455-6677-8899-aabbccddeeff",
            "00112233-4455-6677-8899-aabbccddeeéf",
        ] {
            assert_eq!(uuid_bytes(bad), None, "{bad}");
        }
    }
}
