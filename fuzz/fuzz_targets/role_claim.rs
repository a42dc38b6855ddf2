//! `cargo fuzz run role_claim` (or `scripts/fuzz.sh role_claim`); the input format and the
//! properties checked are documented in `pg_auth_keys_fuzz::role_claim`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::role_claim::run(data));
