//! `cargo fuzz run revocation` (or `scripts/fuzz.sh revocation`); the input format and the
//! properties checked are documented in `pg_auth_keys_fuzz::revocation`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::revocation::run(data));
