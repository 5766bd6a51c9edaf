//! The persistence the key logic needs, as a trait: the imported
//! `qimem:kms/store` interface in WebAssembly, a memory map in tests.

mod memory;

use uuid::Uuid;

pub use self::memory::MemoryStore;
use crate::error::StoreError;
use crate::model::{AuditEvent, AuditFilter, KeyRecord, KeyState, RecordFilter};

/// Storage of sealed key records. Implementations never see key material.
pub trait Store {
    /// Whether the store answers.
    fn ping(&self) -> Result<(), StoreError>;

    /// Insert the first record of a new lineage; `Conflict` if the id exists.
    fn insert(&self, record: &KeyRecord) -> Result<(), StoreError>;

    /// The record with this id.
    fn get(&self, id: Uuid) -> Result<Option<KeyRecord>, StoreError>;

    /// The active record of a lineage.
    fn active(&self, lineage_id: Uuid) -> Result<Option<KeyRecord>, StoreError>;

    /// Records matching `filter`, ordered by id.
    fn list(&self, filter: &RecordFilter) -> Result<Vec<KeyRecord>, StoreError>;

    /// Every record of a lineage, ordered by version.
    fn lineage(&self, lineage_id: Uuid) -> Result<Vec<KeyRecord>, StoreError>;

    /// Atomically retire `current` (which must be active) and insert
    /// `successor`; otherwise `Conflict` with the lineage's active key.
    fn rotate(&self, current: Uuid, successor: &KeyRecord) -> Result<(), StoreError>;

    /// Move `id` from `expected` to `next`; `Conflict` if it is not in
    /// `expected`, or if `next` is active and the lineage has an active key.
    fn update_state(&self, id: Uuid, expected: KeyState, next: KeyState) -> Result<(), StoreError>;

    /// Erase `id`'s sealed material and mark it destroyed, if in `expected`.
    fn destroy(&self, id: Uuid, expected: KeyState) -> Result<(), StoreError>;

    /// Append an audit event (its `seq` is assigned by the store).
    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Audit events matching `filter`, oldest first.
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
}
