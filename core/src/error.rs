//! Error types. The `Display` strings are the short reasons users see in an ERROR message; they
//! never contain key material or a whole token.

use thiserror::Error;

/// Every reason a token is refused. The pgrx layer maps all of them to SQLSTATE 28000
/// (invalid_authorization_specification).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
pub enum TokenError {
    #[error("token too large")]
    TooLarge,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported alg")]
    UnsupportedAlg,
    #[error("missing kid")]
    MissingKid,
    #[error("unknown kid")]
    UnknownKid,
    #[error("key revoked")]
    KeyRevoked,
    #[error("alg does not match key")]
    AlgMismatch,
    #[error("unsupported crit header")]
    CritUnsupported,
    #[error("embedded key header not trusted")]
    EmbeddedKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("missing exp")]
    MissingExp,
    #[error("bad claim type: {0}")]
    BadClaimType(&'static str),
    #[error("bad audience")]
    BadAudience,
    #[error("bad issuer")]
    BadIssuer,
    #[error("role not allowed")]
    RoleNotAllowed,
    #[error("legacy api key disabled")]
    Disabled,
    /// The key's HMAC secret is sealed under a key-encryption key this server does not have
    /// (a copy of the database without its KEK): nothing verifies with it, it never fails open.
    #[error("key unavailable: key-encryption key missing")]
    KeyUnavailable,
    /// A token minted from an API key (`api_key_id` claim) whose key is revoked, deleted or
    /// unknown: it is valid only while that key is.
    #[error("the token's api key is revoked or unknown")]
    ApiKeyRevoked,
    /// A revocation entry (auth.revoke_tokens, revoke_session, revoke_token, sign_out) matches.
    #[error("token revoked")]
    Revoked,
    /// `exp - iat` exceeds auth.max_token_lifetime: such a token could outlive the revocation
    /// entries that are kept for that long.
    #[error("lifetime too long")]
    LifetimeTooLong,
    /// A registered third-party issuer's keys were last fetched more than
    /// `auth.issuer_max_stale` ago: its tokens are refused until a fetch succeeds.
    #[error("issuer keys stale")]
    IssuerKeysStale,
}

impl TokenError {
    /// A stable snake_case code for counters (`auth.stats()`) and `auth.inspect_jwt`.
    pub fn reason_code(&self) -> &'static str {
        match self {
            TokenError::TooLarge => "too_large",
            TokenError::Malformed(_) => "malformed",
            TokenError::UnsupportedAlg => "unsupported_alg",
            TokenError::MissingKid => "missing_kid",
            TokenError::UnknownKid => "unknown_kid",
            TokenError::KeyRevoked => "key_revoked",
            TokenError::AlgMismatch => "alg_mismatch",
            TokenError::CritUnsupported => "crit",
            TokenError::EmbeddedKey => "embedded_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::IssuedInFuture => "iat_future",
            TokenError::MissingExp => "missing_exp",
            TokenError::BadClaimType(_) => "bad_claim_type",
            TokenError::BadAudience => "bad_audience",
            TokenError::BadIssuer => "bad_issuer",
            TokenError::RoleNotAllowed => "role_not_allowed",
            TokenError::Disabled => "disabled",
            TokenError::KeyUnavailable => "key_unavailable",
            TokenError::ApiKeyRevoked => "api_key_revoked",
            TokenError::Revoked => "token_revoked",
            TokenError::LifetimeTooLong => "lifetime_too_long",
            TokenError::IssuerKeysStale => "issuer_keys_stale",
        }
    }

    /// All reason codes, in a stable order (for fixed-size counter arrays in shared memory).
    /// New codes go at the end, so that earlier counters keep their positions.
    pub const REASON_CODES: [&'static str; 24] = [
        "too_large",
        "malformed",
        "unsupported_alg",
        "missing_kid",
        "unknown_kid",
        "key_revoked",
        "alg_mismatch",
        "crit",
        "embedded_key",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "iat_future",
        "missing_exp",
        "bad_claim_type",
        "bad_audience",
        "bad_issuer",
        "role_not_allowed",
        "disabled",
        "key_unavailable",
        "api_key_revoked",
        "token_revoked",
        "lifetime_too_long",
        "issuer_keys_stale",
    ];
}

/// Why a key was refused at import, generation or loading. Messages name the rule that failed,
/// never the key bytes.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("invalid key: {0}")]
    Invalid(String),
    #[error("unsupported key: {0}")]
    Unsupported(String),
    #[error("key cannot verify signatures (use/key_ops)")]
    NotForSigning,
    #[error("duplicate kid in key set: {0}")]
    Duplicate(String),
}

impl KeyError {
    pub(crate) fn invalid(why: &str) -> KeyError {
        KeyError::Invalid(why.to_owned())
    }

    pub(crate) fn unsupported(why: &str) -> KeyError {
        KeyError::Unsupported(why.to_owned())
    }
}
