//! The fuzz targets' bodies, as plain functions: each `fuzz_targets/<name>.rs` is a one-line
//! `fuzz_target!` that calls `<name>::run`, so the same code runs under libFuzzer
//! (`scripts/fuzz.sh`) and, on the checked-in corpus, under plain `cargo test`
//! (`tests/corpus.rs`), which needs neither nightly features nor the libFuzzer runtime.
//!
//! Every target checks more than "does not panic": each states properties of the function under
//! test (round trips, agreement with a small independent reference implementation, invariants
//! the pgrx layer relies on) and panics when one fails, which libFuzzer reports as a crash.
//!
//! Input formats. Each target accepts the plain text form (what SQL would pass: a token, a JWK,
//! an API key) whenever the first byte is ASCII, so real tokens and keys are corpus files as
//! they are. A first byte of 0x80 or more selects a structured form that builds the text from
//! raw parts — base64url-encoding and signing them — so that mutations land behind the
//! base64url and signature checks instead of being refused by them. Parts are separated by
//! [`SEP`] (0xFF, which never occurs in UTF-8). [`seed`] writes these forms for the corpus
//! generator (`examples/gen_corpus.rs`).

pub mod api_key;
pub mod b64;
pub mod fixtures;
pub mod issuer;
pub mod json;
pub mod jwk;
pub mod revocation;
pub mod role_claim;
pub mod seal;
pub mod seed;
pub mod token;

/// Separator between the parts of a structured input.
pub const SEP: u8 = 0xFF;
/// First bytes from here on select a structured input.
pub const STRUCTURED: u8 = 0x80;

/// Split a structured input's body into its parts.
pub(crate) fn parts(body: &[u8]) -> Vec<&[u8]> {
    body.split(|&b| b == SEP).collect()
}
