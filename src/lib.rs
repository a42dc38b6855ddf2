//! pg_auth_keys: JWT signing keys, API keys and verified claims for RLS.

::pgrx::pg_module_magic!(name, version);

// Not `#[pg_schema]`: the control file's `schema = auth` makes PostgreSQL create (or reuse)
// the schema before the script runs, and pgrx's `CREATE SCHEMA IF NOT EXISTS auth` for a
// `#[pg_schema]` module then fails on PostgreSQL 15 with "schema auth is not a member of
// extension" (CVE-2022-2625 hardening). Unqualified functions land in the extension's schema.
mod auth {
    use pgrx::prelude::*;

    /// The extension's version, as built.
    #[pg_extern(immutable, parallel_safe)]
    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn version_matches_cargo() {
        let v = Spi::get_one::<String>("SELECT auth.version()").unwrap();
        assert_eq!(v.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'pg_auth_keys'"]
    }
}
