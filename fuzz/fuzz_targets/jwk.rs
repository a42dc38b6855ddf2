//! `cargo fuzz run jwk` (or `scripts/fuzz.sh jwk`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::jwk`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::jwk::run(data));
