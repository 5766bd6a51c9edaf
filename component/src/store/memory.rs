//! A store in a map, with the same rules the database enforces.

use std::collections::BTreeMap;
use std::sync::Mutex;

use uuid::Uuid;

use super::Store;
use crate::error::StoreError;
use crate::model::{KeyRecord, KeyState, RecordFilter};

/// Records in memory, ordered by id. Enforces the database's rules: unique
/// ids, unique `(lineage, version)` and one active key per lineage.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<Uuid, KeyRecord>>,
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
        let clash = map.contains_key(&record.id)
            || map.values().any(|r| r.lineage_id == record.lineage_id);
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
        let start = filter.after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
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
}
