//! `auth.stats()`: the shared-memory counters (README "Observability").

use pgrx::prelude::*;

use crate::errors::OrRaise;
use crate::shmem;

mod auth {
    use super::*;

    /// Counters since server start: verifications by outcome and reason, token-cache hits and
    /// misses, key-set loads, the key-set generation, the shared memory taken, and what this
    /// backend holds of the token revocations and API keys.
    #[pg_extern(volatile, parallel_safe)]
    fn stats() -> pgrx::JsonB {
        let store = shmem::store().or_raise();
        let (counters, reasons) = store.stats();
        let mut out = serde_json::Map::new();
        for (name, value) in counters {
            out.insert(name.to_string(), value.into());
        }
        let by_reason: serde_json::Map<String, serde_json::Value> = reasons
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.into()))
            .collect();
        out.insert("verify_failed_by_reason".into(), by_reason.into());
        out.insert("generation".into(), store.tick().into());
        out.insert("key_slots".into(), store.nslots().into());
        out.insert(
            "shared_memory_bytes".into(),
            shmem::bytes_for(store.nslots()).into(),
        );
        // This backend's copy of the token revocations (each backend holds one).
        let (entries, bytes) = crate::revocations::held();
        out.insert("token_revocations".into(), entries.into());
        out.insert("token_revocation_bytes".into(), bytes.into());
        // This backend's copy of the API keys (each backend holds one; api_key_set.rs).
        let (keys, bytes) = crate::api_key_set::held();
        out.insert("api_keys".into(), keys.into());
        out.insert("api_key_bytes".into(), bytes.into());
        for (name, value) in crate::issuer_shared::counters() {
            out.insert(name.to_string(), value.into());
        }
        pgrx::JsonB(serde_json::Value::Object(out))
    }
}
