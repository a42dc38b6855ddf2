//! `cargo fuzz run issuer` (or `scripts/fuzz.sh issuer`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::issuer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::issuer::run(data));
