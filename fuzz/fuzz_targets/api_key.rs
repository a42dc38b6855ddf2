//! `cargo fuzz run api_key` (or `scripts/fuzz.sh api_key`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::api_key`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::api_key::run(data));
