//! `cargo fuzz run token` (or `scripts/fuzz.sh token`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::token`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::token::run(data));
