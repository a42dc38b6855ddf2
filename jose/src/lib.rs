//! Plain-Rust JOSE core for pg_auth_keys.
//!
//! Everything here runs without PostgreSQL so that it can be unit-tested, checked against the
//! Wycheproof and RFC vectors, and fuzzed. The pgrx layer (`../src`) only adapts these functions
//! to SQL, shared memory and settings. No function reachable from untrusted input panics: every
//! public entry point returns a `Result`, because inside a backend a panic is at best an ERROR.

mod alg;
mod api_key;
mod b64;
mod claims;
mod der;
mod error;
mod json;
mod jwk;
mod keys;
mod token;

pub use alg::Alg;




pub use b64::{decode_canonical as b64url_decode, encode as b64url_encode};

pub use error::{KeyError, TokenError};
pub use json::parse_object as parse_json_object;

pub use keys::{PreparedKey, SigningKey, VerifyKey, MAX_HMAC_KEY_BYTES, MAX_VERIFY_KEY_BYTES};

