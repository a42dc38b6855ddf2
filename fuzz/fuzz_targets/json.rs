//! `cargo fuzz run json` (or `scripts/fuzz.sh json`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::json::run(data));
