//! `rotate`: replace the active key of a lineage by its next version.

use uuid::Uuid;

use super::{Kms, new_id, now_ms};
use crate::error::{KmsError, StoreError};
use crate::model::{KeyRecord, KeyState};
use crate::secret::KeyMaterial;
use crate::store::Store;

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Rotate the active key `id`: a successor with fresh material becomes
    /// active and `id` is retired, atomically in the store. A key that is
    /// not active, or that another caller rotated first, is a conflict that
    /// names the lineage's current key.
    pub fn rotate(&self, id: Uuid) -> Result<KeyRecord, KmsError> {
        let current = self.record(id)?;
        if current.state != KeyState::Active {
            return Err(self.not_active(&current, "so it cannot be rotated"));
        }
        let now = now_ms();

        let material = KeyMaterial::generate(current.algorithm.key_len())?;
        let mut successor = KeyRecord {
            id: new_id(now)?,
            lineage_id: current.lineage_id,
            version: current.version + 1,
            parent_id: Some(current.id),
            algorithm: current.algorithm,
            state: KeyState::Active,
            created_at: now,
            labels: current.labels.clone(),
            sealed: Vec::new(),
            seal_key_id: String::new(),
        };
        self.keys.seal(&mut successor, &material)?;

        match self.store.rotate(current.id, &successor) {
            Ok(()) => {}
            Err(StoreError::Conflict(active)) => {
                let mut lost = current;
                lost.state = KeyState::Retired;
                let mut err = self.not_active(&lost, "so it cannot be rotated");
                if let KmsError::Conflict { current_key_id, .. } = &mut err {
                    *current_key_id = current_key_id.or(active);
                }
                return Err(err);
            }
            Err(other) => return Err(other.into()),
        }

        self.audit("rotated", &successor);
        crate::log::info(format_args!(
            "rotated key_id={} to new_key_id={}",
            id, successor.id
        ));
        Ok(successor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::CreateOptions;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    #[test]
    fn rotation_builds_a_lineage_with_one_active_key() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let v2 = kms.rotate(v1.id).unwrap();
        let v3 = kms.rotate(v2.id).unwrap();

        assert_eq!((v2.version, v2.parent_id), (2, Some(v1.id)));
        assert_eq!((v3.version, v3.parent_id), (3, Some(v2.id)));
        let lineage = kms.lineage(v1.lineage_id).unwrap();
        let states: Vec<_> = lineage.iter().map(|r| (r.version, r.state)).collect();
        assert_eq!(
            states,
            vec![
                (1, KeyState::Retired),
                (2, KeyState::Retired),
                (3, KeyState::Active)
            ]
        );
    }

    #[test]
    fn rotating_a_retired_key_is_a_conflict_naming_the_current_key() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let v2 = kms.rotate(v1.id).unwrap();

        match kms.rotate(v1.id) {
            Err(KmsError::Conflict {
                current_key_id,
                message,
            }) => {
                assert_eq!(current_key_id, Some(v2.id));
                assert!(message.contains("retired"));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn the_successor_gets_fresh_material() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let v2 = kms.rotate(v1.id).unwrap();
        let a = keys.unseal(&v1).unwrap();
        let b = keys.unseal(&v2).unwrap();
        assert_ne!(a.expose(), b.expose());
    }
}
