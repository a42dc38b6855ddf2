//! Plain-Rust JOSE core for pg_auth_keys.
