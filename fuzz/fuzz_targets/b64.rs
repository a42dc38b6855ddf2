//! `cargo fuzz run b64` (or `scripts/fuzz.sh b64`); the input format and the properties
//! checked are documented in `pg_auth_keys_fuzz::b64`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_auth_keys_fuzz::b64::run(data));
