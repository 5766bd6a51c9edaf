//! A component that exports `qimem:kms/store` over QIMEM's own
//! [`MemoryStore`]: sealed records and the audit trail live in the memory of
//! this component's instance, with the same rules as the database (unique
//! ids and versions, one active key per lineage, atomic rotation).
//!
//! It lets a composition of QIMEM run with no host-specific import, for
//! tests, demos and single-process apps. Records last as long as the
//! instance: nothing survives a restart.
//!
//! Like every store, it only ever sees sealed key material; it logs nothing.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::sync::LazyLock;

use qimem_component::error::StoreError;
use qimem_component::model::{
    Algorithm, AuditEvent, AuditFilter, KeyRecord, KeyState, RecordFilter,
};
use qimem_component::store::{MemoryStore, Store};
use uuid::Uuid;

use crate::bindings::exports::qimem::kms::store as wstore;
use crate::bindings::qimem::kms::types as wt;

/// Bindings generated from `wit/` for the `memory-store` world.
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "memory-store",
    });

    // Exported symbols only exist in the WebAssembly build.
    #[cfg(target_arch = "wasm32")]
    use crate::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component with_types_in crate::bindings);
}

/// The store of this instance.
static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

/// The component's exported implementation.
struct Component;

impl wstore::Guest for Component {
    fn ping() -> Result<(), wstore::StoreError> {
        STORE.ping().map_err(to_wit_error)
    }

    fn insert(record: wstore::KeyRecord) -> Result<(), wstore::StoreError> {
        STORE
            .insert(&from_wit_record(record)?)
            .map_err(to_wit_error)
    }

    fn get(id: String) -> Result<Option<wstore::KeyRecord>, wstore::StoreError> {
        let found = STORE.get(parse_id(&id)?).map_err(to_wit_error)?;
        Ok(found.map(to_wit_record))
    }

    fn active(lineage_id: String) -> Result<Option<wstore::KeyRecord>, wstore::StoreError> {
        let found = STORE.active(parse_id(&lineage_id)?).map_err(to_wit_error)?;
        Ok(found.map(to_wit_record))
    }

    fn list(filter: wstore::RecordFilter) -> Result<Vec<wstore::KeyRecord>, wstore::StoreError> {
        let filter = RecordFilter {
            lineage_id: filter.lineage_id.as_deref().map(parse_id).transpose()?,
            state: filter.state.map(from_wit_state),
            after: filter.after.as_deref().map(parse_id).transpose()?,
            limit: filter.limit,
        };
        let records = STORE.list(&filter).map_err(to_wit_error)?;
        Ok(records.into_iter().map(to_wit_record).collect())
    }

    fn lineage(lineage_id: String) -> Result<Vec<wstore::KeyRecord>, wstore::StoreError> {
        let records = STORE
            .lineage(parse_id(&lineage_id)?)
            .map_err(to_wit_error)?;
        Ok(records.into_iter().map(to_wit_record).collect())
    }

    fn rotate(current: String, successor: wstore::KeyRecord) -> Result<(), wstore::StoreError> {
        let successor = from_wit_record(successor)?;
        STORE
            .rotate(parse_id(&current)?, &successor)
            .map_err(to_wit_error)
    }

    fn update_state(
        id: String,
        expected: wt::KeyState,
        next: wt::KeyState,
    ) -> Result<(), wstore::StoreError> {
        STORE
            .update_state(
                parse_id(&id)?,
                from_wit_state(expected),
                from_wit_state(next),
            )
            .map_err(to_wit_error)
    }

    fn destroy(id: String, expected: wt::KeyState) -> Result<(), wstore::StoreError> {
        STORE
            .destroy(parse_id(&id)?, from_wit_state(expected))
            .map_err(to_wit_error)
    }

    fn append_audit(event: wstore::AuditEvent) -> Result<(), wstore::StoreError> {
        let event = AuditEvent {
            seq: event.seq,
            at: event.at,
            action: event.action,
            key_id: event.key_id.as_deref().map(parse_id).transpose()?,
            lineage_id: event.lineage_id.as_deref().map(parse_id).transpose()?,
            actor: event.actor,
            outcome: event.outcome,
        };
        STORE.append_audit(&event).map_err(to_wit_error)
    }

    fn audit(filter: wstore::AuditFilter) -> Result<Vec<wstore::AuditEvent>, wstore::StoreError> {
        let filter = AuditFilter {
            key_id: filter.key_id.as_deref().map(parse_id).transpose()?,
            lineage_id: filter.lineage_id.as_deref().map(parse_id).transpose()?,
            after: filter.after,
            limit: filter.limit,
        };
        let events = STORE.audit(&filter).map_err(to_wit_error)?;
        Ok(events
            .into_iter()
            .map(|e| wstore::AuditEvent {
                seq: e.seq,
                at: e.at,
                action: e.action,
                key_id: e.key_id.map(|k| k.to_string()),
                lineage_id: e.lineage_id.map(|l| l.to_string()),
                actor: e.actor,
                outcome: e.outcome,
            })
            .collect())
    }
}

/// A key id from the caller; the component only ever sends UUIDs, so a bad
/// one is a fault of the caller, reported as `internal`.
fn parse_id(text: &str) -> Result<Uuid, wstore::StoreError> {
    Uuid::try_parse(text).map_err(|_| wstore::StoreError::Internal("bad key id".into()))
}

fn to_wit_error(e: StoreError) -> wstore::StoreError {
    match e {
        StoreError::Conflict(current) => {
            wstore::StoreError::Conflict(current.map(|c| c.to_string()))
        }
        StoreError::NotFound => wstore::StoreError::NotFound,
        StoreError::Unavailable(m) => wstore::StoreError::Unavailable(m),
        StoreError::Internal(m) => wstore::StoreError::Internal(m),
    }
}

fn to_wit_alg(a: Algorithm) -> wt::Algorithm {
    match a {
        Algorithm::Aes256Gcm => wt::Algorithm::Aes256Gcm,
        Algorithm::XChaCha20Poly1305 => wt::Algorithm::Xchacha20Poly1305,
        Algorithm::Aes256Siv => wt::Algorithm::Aes256Siv,
    }
}

fn from_wit_alg(a: wt::Algorithm) -> Algorithm {
    match a {
        wt::Algorithm::Aes256Gcm => Algorithm::Aes256Gcm,
        wt::Algorithm::Xchacha20Poly1305 => Algorithm::XChaCha20Poly1305,
        wt::Algorithm::Aes256Siv => Algorithm::Aes256Siv,
    }
}

fn to_wit_state(s: KeyState) -> wt::KeyState {
    match s {
        KeyState::Active => wt::KeyState::Active,
        KeyState::Retired => wt::KeyState::Retired,
        KeyState::Disabled => wt::KeyState::Disabled,
        KeyState::Destroyed => wt::KeyState::Destroyed,
    }
}

fn from_wit_state(s: wt::KeyState) -> KeyState {
    match s {
        wt::KeyState::Active => KeyState::Active,
        wt::KeyState::Retired => KeyState::Retired,
        wt::KeyState::Disabled => KeyState::Disabled,
        wt::KeyState::Destroyed => KeyState::Destroyed,
    }
}

fn to_wit_record(r: KeyRecord) -> wstore::KeyRecord {
    wstore::KeyRecord {
        id: r.id.to_string(),
        lineage_id: r.lineage_id.to_string(),
        version: r.version,
        parent_id: r.parent_id.map(|p| p.to_string()),
        algorithm: to_wit_alg(r.algorithm),
        state: to_wit_state(r.state),
        created_at: r.created_at,
        labels: r
            .labels
            .into_iter()
            .map(|(name, value)| wt::Label { name, value })
            .collect(),
        sealed_material: r.sealed,
        seal_key_id: r.seal_key_id,
    }
}

fn from_wit_record(r: wstore::KeyRecord) -> Result<KeyRecord, wstore::StoreError> {
    Ok(KeyRecord {
        id: parse_id(&r.id)?,
        lineage_id: parse_id(&r.lineage_id)?,
        version: r.version,
        parent_id: r.parent_id.as_deref().map(parse_id).transpose()?,
        algorithm: from_wit_alg(r.algorithm),
        state: from_wit_state(r.state),
        created_at: r.created_at,
        labels: r.labels.into_iter().map(|l| (l.name, l.value)).collect(),
        sealed: r.sealed_material,
        seal_key_id: r.seal_key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u128, state: KeyState, parent: Option<Uuid>) -> KeyRecord {
        let id = Uuid::from_u128(n);
        KeyRecord {
            id,
            lineage_id: parent.unwrap_or(id),
            version: if parent.is_some() { 2 } else { 1 },
            parent_id: parent,
            algorithm: Algorithm::XChaCha20Poly1305,
            state,
            created_at: 1_700_000_000_000,
            labels: vec![("team".into(), "payments".into())],
            sealed: vec![1, 2, 3],
            seal_key_id: "fp".into(),
        }
    }

    #[test]
    fn records_cross_the_wit_boundary_unchanged() {
        for original in [
            record(1, KeyState::Active, None),
            record(2, KeyState::Retired, Some(Uuid::from_u128(3))),
        ] {
            let id = original.id;
            let back = from_wit_record(to_wit_record(original)).unwrap();
            assert_eq!(back.id, id);
            assert_eq!(back.algorithm, Algorithm::XChaCha20Poly1305);
            assert_eq!(back.labels, vec![("team".into(), "payments".into())]);
            assert_eq!(back.sealed, vec![1, 2, 3]);
            assert_eq!(back.seal_key_id, "fp");
        }
    }

    #[test]
    fn a_record_with_a_malformed_id_is_refused() {
        let mut bad = to_wit_record(record(4, KeyState::Active, None));
        bad.lineage_id = "not-a-uuid".into();
        assert!(matches!(
            from_wit_record(bad),
            Err(wstore::StoreError::Internal(_))
        ));
    }

    #[test]
    fn a_store_conflict_keeps_the_active_key() {
        let current = Uuid::from_u128(5);
        let wstore::StoreError::Conflict(named) = to_wit_error(StoreError::Conflict(Some(current)))
        else {
            panic!("conflict expected");
        };
        assert_eq!(named, Some(current.to_string()));
    }
}
