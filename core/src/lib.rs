//! The core of pg_auth_keys: every decision that needs no server — JOSE tokens and JWKs, claim
//! rules, third-party issuers' URLs and key sets, API-key format, request headers and roles, token revocations, sealing.
//!
//! Everything here runs without PostgreSQL so that it can be unit-tested, checked against the
//! Wycheproof and RFC vectors, and fuzzed. The pgrx layer (`../src`) only adapts these functions
//! to SQL, shared memory and settings. No function reachable from untrusted input panics: every
//! public entry point returns a `Result`, because inside a backend a panic is at best an ERROR.

#![forbid(unsafe_code)]

mod alg;
mod api_key;
mod api_key_index;
mod b64;
mod claims;
mod der;
mod error;
mod issuer;
mod json;
mod jwk;
mod keys;
mod request;
mod revocation;
mod role_claim;
mod roles;
mod sealing;
mod token;

pub use alg::Alg;
pub use api_key::{
    api_key_hash, generate_api_key, parse_api_key, try_generate_api_key, ApiKeyError, ApiKeyKind,
    NewApiKey, API_KEY_BODY_CHARS, API_KEY_CHECKSUM_CHARS,
};
pub use api_key_index::{looks_like_jwt, presented_key, ApiKeyIndex, PresentedKey};
pub use b64::{decode_canonical as b64url_decode, encode as b64url_encode};
pub use claims::{
    check_claim_values, check_claims, uuid_bytes, ClaimRules, ClaimValues, NumericClaim,
};
pub use error::{KeyError, TokenError};
pub use issuer::{
    address_is_public, apply_default_role, check_url, discovery_url, jwks_uri_from_discovery,
    key_changes, redirect_target, refresh_after, select_keys, IssuerError, IssuerKey, KeyChanges,
    KeySelection, MAX_ISSUER_KEYS, MAX_URL_BYTES,
};
pub use json::{
    numbers_survive_doubles, parse_object as parse_json_object,
    parse_object_keeping as parse_json_object_keeping, JsonError,
};
pub use jwk::{import_jwk, import_jwks, import_pem, ImportedKey, MAX_KID_BYTES};
pub use keys::{PreparedKey, SigningKey, VerifyKey, MAX_HMAC_KEY_BYTES, MAX_VERIFY_KEY_BYTES};
pub use request::{
    from_browser, pre_request, Credential, Decision, Headers, Identity, Refusal, RequestRoles,
};
pub use revocation::{
    check_lifetime, check_lifetime_of, malloc_footprint, token_hash_value, RevocationEntry,
    RevocationKind, RevocationSet,
};
pub use role_claim::{RoleClaim, RoleClaimError, RoleClaimStep, MAX_ROLE_CLAIM_INDEX};
pub use roles::{RoleList, DEFAULT_ALLOWED_ROLES, DEFAULT_ELEVATED_ROLES};
pub use sealing::{
    open_with, sealed_by, Kek, KekId, Purpose, SealError, KEK_ID_LEN, MIN_ROOT_KEY_BYTES,
    SEAL_OVERHEAD,
};
pub use token::{parse_compact, sign_compact, ParsedToken};
