//! `cargo fuzz run seal` (or `scripts/fuzz.sh seal`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::seal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::seal::run(data));
