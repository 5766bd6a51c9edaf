//! A store in a map, with the same rules the database enforces.

use std::collections::BTreeMap;
use std::sync::Mutex;

use uuid::Uuid;

use super::Store;
use crate::error::StoreError;
use crate::model::{AuditEvent, AuditFilter, KeyRecord, KeyState, RecordFilter};

/// Records in memory, ordered by id. Enforces the database's rules: unique
/// ids, unique `(lineage, version)` and one active key per lineage.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<Uuid, KeyRecord>>,
    audit: Mutex<Vec<AuditEvent>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<Uuid, KeyRecord>>, StoreError> {
        self.records
            .lock()
            .map_err(|_| StoreError::Internal("memory store lock poisoned".into()))
    }
}

fn active_of(map: &BTreeMap<Uuid, KeyRecord>, lineage_id: Uuid) -> Option<&KeyRecord> {
    map.values()
        .find(|r| r.lineage_id == lineage_id && r.state == KeyState::Active)
}

impl Store for MemoryStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(drop)
    }

    fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        let clash =
            map.contains_key(&record.id) || map.values().any(|r| r.lineage_id == record.lineage_id);
        if clash {
            return Err(StoreError::Conflict(
                active_of(&map, record.lineage_id).map(|r| r.id),
            ));
        }
        map.insert(record.id, record.clone());
        Ok(())
    }

    fn get(&self, id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock()?.get(&id).cloned())
    }

    fn active(&self, lineage_id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        Ok(active_of(&*self.lock()?, lineage_id).cloned())
    }

    fn list(&self, filter: &RecordFilter) -> Result<Vec<KeyRecord>, StoreError> {
        let map = self.lock()?;
        let start = filter
            .after
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(map
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, r)| r)
            .filter(|r| filter.lineage_id.is_none_or(|l| r.lineage_id == l))
            .filter(|r| filter.state.is_none_or(|s| r.state == s))
            .take(filter.limit as usize)
            .cloned()
            .collect())
    }

    fn lineage(&self, lineage_id: Uuid) -> Result<Vec<KeyRecord>, StoreError> {
        let map = self.lock()?;
        let mut versions: Vec<KeyRecord> = map
            .values()
            .filter(|r| r.lineage_id == lineage_id)
            .cloned()
            .collect();
        versions.sort_by_key(|r| r.version);
        Ok(versions)
    }

    fn rotate(&self, current: Uuid, successor: &KeyRecord) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        let Some(cur) = map.get(&current) else {
            return Err(StoreError::NotFound);
        };
        let fits = cur.state == KeyState::Active
            && successor.lineage_id == cur.lineage_id
            && successor.version == cur.version + 1
            && !map.contains_key(&successor.id);
        if !fits {
            return Err(StoreError::Conflict(
                active_of(&map, cur.lineage_id).map(|r| r.id),
            ));
        }
        if let Some(cur) = map.get_mut(&current) {
            cur.state = KeyState::Retired;
        }
        map.insert(successor.id, successor.clone());
        Ok(())
    }

    fn update_state(&self, id: Uuid, expected: KeyState, next: KeyState) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        let Some(rec) = map.get(&id) else {
            return Err(StoreError::NotFound);
        };
        let lineage = rec.lineage_id;
        let active = active_of(&map, lineage).map(|r| r.id);
        let second_active = next == KeyState::Active && active.is_some_and(|a| a != id);
        if rec.state != expected || second_active {
            return Err(StoreError::Conflict(active));
        }
        if let Some(rec) = map.get_mut(&id) {
            rec.state = next;
        }
        Ok(())
    }

    fn destroy(&self, id: Uuid, expected: KeyState) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        let Some(rec) = map.get(&id) else {
            return Err(StoreError::NotFound);
        };
        if rec.state != expected {
            return Err(StoreError::Conflict(
                active_of(&map, rec.lineage_id).map(|r| r.id),
            ));
        }
        if let Some(rec) = map.get_mut(&id) {
            rec.state = KeyState::Destroyed;
            rec.sealed = Vec::new();
        }
        Ok(())
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut trail = self
            .audit
            .lock()
            .map_err(|_| StoreError::Internal("memory audit lock poisoned".into()))?;
        let mut event = event.clone();
        event.seq = trail.len() as u64 + 1;
        trail.push(event);
        Ok(())
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let trail = self
            .audit
            .lock()
            .map_err(|_| StoreError::Internal("memory audit lock poisoned".into()))?;
        Ok(trail
            .iter()
            .filter(|e| filter.after.is_none_or(|a| e.seq > a))
            .filter(|e| filter.key_id.is_none_or(|k| e.key_id == Some(k)))
            .filter(|e| filter.lineage_id.is_none_or(|l| e.lineage_id == Some(l)))
            .take(filter.limit as usize)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Algorithm;

    fn record(id: u128, lineage: u128, version: u32, state: KeyState) -> KeyRecord {
        KeyRecord {
            id: Uuid::from_u128(id),
            lineage_id: Uuid::from_u128(lineage),
            version,
            parent_id: None,
            algorithm: Algorithm::Aes256Gcm,
            state,
            created_at: 0,
            labels: vec![],
            sealed: vec![1, 2, 3],
            seal_key_id: "fp".into(),
        }
    }

    #[test]
    fn a_lineage_never_gets_a_second_active_key() {
        let store = MemoryStore::new();
        store.insert(&record(1, 100, 1, KeyState::Active)).unwrap();
        store
            .rotate(Uuid::from_u128(1), &record(2, 100, 2, KeyState::Active))
            .unwrap();

        let err = store.update_state(Uuid::from_u128(1), KeyState::Retired, KeyState::Active);
        assert_eq!(err, Err(StoreError::Conflict(Some(Uuid::from_u128(2)))));
        let twice = store.rotate(Uuid::from_u128(1), &record(3, 100, 2, KeyState::Active));
        assert_eq!(twice, Err(StoreError::Conflict(Some(Uuid::from_u128(2)))));
        let skip = store.rotate(Uuid::from_u128(2), &record(3, 100, 4, KeyState::Active));
        assert!(matches!(skip, Err(StoreError::Conflict(_))));
    }

    #[test]
    fn state_changes_compare_and_set() {
        let store = MemoryStore::new();
        store.insert(&record(1, 100, 1, KeyState::Active)).unwrap();
        let id = Uuid::from_u128(1);
        store
            .update_state(id, KeyState::Active, KeyState::Disabled)
            .unwrap();
        assert!(
            store
                .update_state(id, KeyState::Active, KeyState::Disabled)
                .is_err()
        );
        store
            .update_state(id, KeyState::Disabled, KeyState::Active)
            .unwrap();
        assert_eq!(
            store.update_state(Uuid::from_u128(9), KeyState::Active, KeyState::Retired),
            Err(StoreError::NotFound)
        );
    }

    #[test]
    fn destroy_erases_material_and_keeps_metadata() {
        let store = MemoryStore::new();
        store.insert(&record(1, 100, 1, KeyState::Active)).unwrap();
        let id = Uuid::from_u128(1);
        assert!(store.destroy(id, KeyState::Retired).is_err());
        store.destroy(id, KeyState::Active).unwrap();
        let rec = store.get(id).unwrap().unwrap();
        assert_eq!(rec.state, KeyState::Destroyed);
        assert!(rec.sealed.is_empty());
        assert_eq!(store.lineage(Uuid::from_u128(100)).unwrap().len(), 1);
    }

    #[test]
    fn audit_events_are_numbered_and_filtered() {
        let store = MemoryStore::new();
        for (i, key) in [1u128, 2, 1].into_iter().enumerate() {
            let event = AuditEvent {
                seq: 0,
                at: i as u64,
                action: "created".into(),
                key_id: Some(Uuid::from_u128(key)),
                lineage_id: None,
                actor: "anonymous".into(),
                outcome: "success".into(),
            };
            store.append_audit(&event).unwrap();
        }
        let all = store
            .audit(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        let key1 = AuditFilter {
            key_id: Some(Uuid::from_u128(1)),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.audit(&key1).unwrap().len(), 2);
        let after = AuditFilter {
            after: Some(2),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.audit(&after).unwrap().len(), 1);
    }
}
