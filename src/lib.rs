//! pg_auth_keys: JWT signing keys, API keys and verified claims for Row Level Security.
//!
//! `lib.rs` only wires the modules together: settings, shared memory and callbacks are set up in
//! `_PG_init`; each module owns one concern (see docs/design.md and docs/contributing.md).

use pgrx::prelude::*;

mod api_key_set;
mod api_keys;
mod binding;
mod catalog;
mod claims;
mod clock;
mod commits;
mod errors;
mod fetch;
mod issuer_shared;
mod issuers;
mod jsonb_arg;
mod kek;
mod keys;
mod keyset;
mod latest;
mod planner;
mod postgrest;
mod rekey;
mod revocations;
mod root_key;
mod settings;
mod shmem;
mod statement;
mod stats;
mod tokens;
mod verified;
mod worker;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!(
    "../sql/api_keys.sql",
    name = "api_keys",
    requires = [
        api_keys::auth::_new_api_key,
        api_keys::auth::_seal_api_key,
        api_keys::auth::_open_api_key,
        api_keys::auth::_legacy_api_key,
        api_keys::auth::_verify_api_key,
        api_keys::auth::_api_keys_changed,
        postgrest::auth::_request_refusal,
        api_keys::auth::_role_allowed,
        api_keys::auth::_role_elevated,
    ]
);
pgrx::extension_sql_file!(
    "../sql/token_revocations.sql",
    name = "token_revocations",
    requires = [
        "api_keys",
        revocations::auth::_token_revocations_changed,
        revocations::auth::_token_revocation_target,
        claims::auth::_caller_subject,
    ]
);
pgrx::extension_sql_file!(
    "../sql/issuers.sql",
    name = "issuers",
    requires = [
        "token_revocations",
        issuers::auth::_fetch_issuer,
        issuers::auth::_check_issuer_urls,
        issuers::auth::_issuers_changed,
        issuers::auth::_issuer_added,
        api_keys::auth::_role_allowed,
    ]
);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    root_key::install_log_hook();
    // SAFETY: called once from _PG_init, after this library defined its own auth.* settings.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"auth".as_ptr()) };
    // Shared memory exists only when preloaded; otherwise every function that needs it refuses
    // with SQLSTATE 55000 (shmem::store) instead of running with a weaker guarantee.
    // SAFETY: reads a process global set by the postmaster.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        {
            use shmem::KEY_STORE;
            pgrx::pg_shmem_init!(KEY_STORE = shmem::Empty);
        }
        {
            use commits::COMMITS;
            pgrx::pg_shmem_init!(COMMITS = shmem::Empty);
        }
        {
            use issuer_shared::ISSUERS;
            pgrx::pg_shmem_init!(ISSUERS);
        }
        worker::register();
    }
    binding::register();
    keyset::register_callbacks();
    commits::register_callbacks();
    statement::install_hooks(binding::after_utility, keyset::before_parallel_plan);
}

/// The extension's private schema, created by sql/bootstrap.sql (which also says why it exists).
/// Declared here so that pgrx accepts `#[pg_extern(schema = "auth_private")]`; the
/// `CREATE SCHEMA IF NOT EXISTS` pgrx emits for it is then a no-op.
#[pg_schema]
mod auth_private {}

mod auth {
    use pgrx::prelude::*;

    /// The extension's version, as built.
    #[pg_extern(immutable, parallel_safe)]
    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'pg_auth_keys'"]
    }
}
