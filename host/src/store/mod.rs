//! The `qimem:kms/store` import, backed by memory (stateless mode) or by
//! PostgreSQL (stateful mode, [`postgres`]).
//!
//! The rules the database enforces (unique ids, unique versions, one active
//! key per lineage, atomic rotation) are those of the component's own
//! [`MemoryStore`], which the memory backend reuses.

pub mod migrate;
pub mod postgres;
pub mod tls;

use std::sync::Arc;

use qimem_component::error::StoreError;
use qimem_component::model::{
    Algorithm, AuditEvent, AuditFilter, KeyRecord, KeyState, RecordFilter,
};
use qimem_component::store::{MemoryStore, Store};
use uuid::Uuid;

use self::postgres::PgStore;
use crate::bindings::qimem::kms::store as wit;
use crate::bindings::qimem::kms::types as wt;
use crate::state::RequestState;

/// Where sealed key records are kept.
#[derive(Clone)]
pub enum Backend {
    /// In this process's memory.
    Memory(Arc<MemoryStore>),
    /// In PostgreSQL.
    Postgres(Arc<PgStore>),
}

impl Backend {
    /// A PostgreSQL backend.
    pub fn postgres(store: PgStore) -> Backend {
        Backend::Postgres(Arc::new(store))
    }

    /// A fresh, empty memory backend.
    pub fn memory() -> Backend {
        Backend::Memory(Arc::new(MemoryStore::new()))
    }

    /// Whether the backend answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Backend::Memory(m) => m.ping(),
            Backend::Postgres(p) => p.ping().await,
        }
    }

    async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        match self {
            Backend::Memory(m) => m.insert(record),
            Backend::Postgres(p) => p.insert(record).await,
        }
    }

    async fn get(&self, id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        match self {
            Backend::Memory(m) => m.get(id),
            Backend::Postgres(p) => p.get(id).await,
        }
    }

    async fn active(&self, lineage_id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        match self {
            Backend::Memory(m) => m.active(lineage_id),
            Backend::Postgres(p) => p.active(lineage_id).await,
        }
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<KeyRecord>, StoreError> {
        match self {
            Backend::Memory(m) => m.list(filter),
            Backend::Postgres(p) => p.list(filter).await,
        }
    }

    async fn lineage(&self, lineage_id: Uuid) -> Result<Vec<KeyRecord>, StoreError> {
        match self {
            Backend::Memory(m) => m.lineage(lineage_id),
            Backend::Postgres(p) => p.lineage(lineage_id).await,
        }
    }

    async fn rotate(&self, current: Uuid, successor: &KeyRecord) -> Result<(), StoreError> {
        match self {
            Backend::Memory(m) => m.rotate(current, successor),
            Backend::Postgres(p) => p.rotate(current, successor).await,
        }
    }

    async fn update_state(
        &self,
        id: Uuid,
        expected: KeyState,
        next: KeyState,
    ) -> Result<(), StoreError> {
        match self {
            Backend::Memory(m) => m.update_state(id, expected, next),
            Backend::Postgres(p) => p.update_state(id, expected, next).await,
        }
    }

    async fn destroy(&self, id: Uuid, expected: KeyState) -> Result<(), StoreError> {
        match self {
            Backend::Memory(m) => m.destroy(id, expected),
            Backend::Postgres(p) => p.destroy(id, expected).await,
        }
    }

    /// Append an audit event.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        match self {
            Backend::Memory(m) => m.append_audit(event),
            Backend::Postgres(p) => p.append_audit(event).await,
        }
    }

    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        match self {
            Backend::Memory(m) => m.audit(filter),
            Backend::Postgres(p) => p.audit(filter).await,
        }
    }
}

impl wt::Host for RequestState {}

/// The store import as one request's component sees it.
impl wit::Host for RequestState {
    async fn ping(&mut self) -> Result<(), wit::StoreError> {
        self.backend().ping().await.map_err(to_wit_error)
    }

    async fn insert(&mut self, record: wit::KeyRecord) -> Result<(), wit::StoreError> {
        let record = from_wit(record)?;
        self.backend().insert(&record).await.map_err(to_wit_error)
    }

    async fn get(&mut self, id: String) -> Result<Option<wit::KeyRecord>, wit::StoreError> {
        let found = self.backend().get(uuid(&id)?).await.map_err(to_wit_error)?;
        Ok(found.as_ref().map(to_wit))
    }

    async fn active(
        &mut self,
        lineage_id: String,
    ) -> Result<Option<wit::KeyRecord>, wit::StoreError> {
        let found = self
            .backend()
            .active(uuid(&lineage_id)?)
            .await
            .map_err(to_wit_error)?;
        Ok(found.as_ref().map(to_wit))
    }

    async fn list(
        &mut self,
        filter: wit::RecordFilter,
    ) -> Result<Vec<wit::KeyRecord>, wit::StoreError> {
        let filter = RecordFilter {
            lineage_id: filter.lineage_id.as_deref().map(uuid).transpose()?,
            state: filter.state.map(from_wit_state),
            after: filter.after.as_deref().map(uuid).transpose()?,
            limit: filter.limit,
        };
        let records = self.backend().list(&filter).await.map_err(to_wit_error)?;
        Ok(records.iter().map(to_wit).collect())
    }

    async fn lineage(
        &mut self,
        lineage_id: String,
    ) -> Result<Vec<wit::KeyRecord>, wit::StoreError> {
        let records = self
            .backend()
            .lineage(uuid(&lineage_id)?)
            .await
            .map_err(to_wit_error)?;
        Ok(records.iter().map(to_wit).collect())
    }

    async fn rotate(
        &mut self,
        current: String,
        successor: wit::KeyRecord,
    ) -> Result<(), wit::StoreError> {
        let successor = from_wit(successor)?;
        self.backend()
            .rotate(uuid(&current)?, &successor)
            .await
            .map_err(to_wit_error)
    }

    async fn update_state(
        &mut self,
        id: String,
        expected: wt::KeyState,
        next: wt::KeyState,
    ) -> Result<(), wit::StoreError> {
        let (expected, next) = (from_wit_state(expected), from_wit_state(next));
        self.backend()
            .update_state(uuid(&id)?, expected, next)
            .await
            .map_err(to_wit_error)
    }

    async fn destroy(&mut self, id: String, expected: wt::KeyState) -> Result<(), wit::StoreError> {
        let expected = from_wit_state(expected);
        self.backend()
            .destroy(uuid(&id)?, expected)
            .await
            .map_err(to_wit_error)
    }

    async fn append_audit(&mut self, event: wit::AuditEvent) -> Result<(), wit::StoreError> {
        let event = AuditEvent {
            seq: event.seq,
            at: event.at,
            action: event.action,
            key_id: event.key_id.as_deref().map(uuid).transpose()?,
            lineage_id: event.lineage_id.as_deref().map(uuid).transpose()?,
            actor: event.actor,
            outcome: event.outcome,
        };
        // Data-plane events are queued off the hot path when asked for.
        match self.audit_queue() {
            Some(queue) if crate::audit::is_data_plane(&event.action) => {
                queue.append(event, self.backend()).await
            }
            _ => self.backend().append_audit(&event).await,
        }
        .map_err(to_wit_error)
    }

    async fn audit(
        &mut self,
        filter: wit::AuditFilter,
    ) -> Result<Vec<wit::AuditEvent>, wit::StoreError> {
        let filter = AuditFilter {
            key_id: filter.key_id.as_deref().map(uuid).transpose()?,
            lineage_id: filter.lineage_id.as_deref().map(uuid).transpose()?,
            after: filter.after,
            limit: filter.limit,
        };
        let events = self.backend().audit(&filter).await.map_err(to_wit_error)?;
        Ok(events
            .into_iter()
            .map(|e| wit::AuditEvent {
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

fn uuid(text: &str) -> Result<Uuid, wit::StoreError> {
    Uuid::try_parse(text).map_err(|_| wit::StoreError::Internal("malformed key id".into()))
}

fn to_wit_error(e: StoreError) -> wit::StoreError {
    crate::metrics::store_error(match &e {
        StoreError::Conflict(_) => "conflict",
        StoreError::NotFound => "not_found",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
    });
    match e {
        StoreError::Conflict(current) => wit::StoreError::Conflict(current.map(|c| c.to_string())),
        StoreError::NotFound => wit::StoreError::NotFound,
        StoreError::Unavailable(m) => wit::StoreError::Unavailable(m),
        StoreError::Internal(m) => wit::StoreError::Internal(m),
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

fn to_wit(r: &KeyRecord) -> wit::KeyRecord {
    wit::KeyRecord {
        id: r.id.to_string(),
        lineage_id: r.lineage_id.to_string(),
        version: r.version,
        parent_id: r.parent_id.map(|p| p.to_string()),
        algorithm: to_wit_alg(r.algorithm),
        state: to_wit_state(r.state),
        created_at: r.created_at,
        labels: r
            .labels
            .iter()
            .map(|(name, value)| wt::Label {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        sealed_material: r.sealed.clone(),
        seal_key_id: r.seal_key_id.clone(),
    }
}

fn from_wit(r: wit::KeyRecord) -> Result<KeyRecord, wit::StoreError> {
    Ok(KeyRecord {
        id: uuid(&r.id)?,
        lineage_id: uuid(&r.lineage_id)?,
        version: r.version,
        parent_id: r.parent_id.as_deref().map(uuid).transpose()?,
        algorithm: from_wit_alg(r.algorithm),
        state: from_wit_state(r.state),
        created_at: r.created_at,
        labels: r.labels.into_iter().map(|l| (l.name, l.value)).collect(),
        sealed: r.sealed_material,
        seal_key_id: r.seal_key_id,
    })
}
