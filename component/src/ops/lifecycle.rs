//! `disable`, `enable` and `destroy`: the states a key passes through
//! besides rotation.
//!
//! - A disabled key refuses every use (encrypt, decrypt, rewrap, data keys)
//!   until it is enabled. Enabling returns it to `active` when it is the
//!   newest version of its lineage and to `retired` otherwise.
//! - A destroyed key keeps its metadata and its place in the lineage, but
//!   its sealed material is erased in the store (crypto-shredding): what it
//!   sealed can never be opened again. Destroying needs the key id repeated
//!   as confirmation, and destroying a lineage's active key needs `force`,
//!   since the lineage then encrypts no more.
//!
//! Each change is a compare-and-set in the store, so a concurrent change
//! is a conflict, never a lost update. Repeating a change that has already
//! happened answers with the key as it is.

use uuid::Uuid;

use super::Kms;
use crate::error::{KmsError, StoreError};
use crate::model::{KeyRecord, KeyState};
use crate::store::Store;

/// What `destroy` must be told.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestroyOptions {
    /// The id of the key to destroy, repeated: guards against a mistyped
    /// or copy-pasted id.
    pub confirm: String,
    /// Destroy even the active key of a lineage.
    pub force: bool,
}

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Disable key `id`: it refuses every use until enabled.
    pub fn disable(&self, id: Uuid) -> Result<KeyRecord, KmsError> {
        let record = self.record(id)?;
        match record.state {
            KeyState::Disabled => return Ok(record),
            KeyState::Destroyed => return Err(KmsError::KeyDestroyed(id)),
            KeyState::Active | KeyState::Retired => {}
        }
        self.change_state(&record, KeyState::Disabled)?;
        self.after_change(record, KeyState::Disabled, "disabled")
    }

    /// Enable a disabled key `id`: back to `active` when it is the newest
    /// version of its lineage, else to `retired`.
    pub fn enable(&self, id: Uuid) -> Result<KeyRecord, KmsError> {
        let record = self.record(id)?;
        match record.state {
            KeyState::Active | KeyState::Retired => return Ok(record),
            KeyState::Destroyed => return Err(KmsError::KeyDestroyed(id)),
            KeyState::Disabled => {}
        }
        let newest = self
            .store
            .lineage(record.lineage_id)?
            .iter()
            .map(|r| r.version)
            .max()
            .unwrap_or(record.version);
        let next = if record.version >= newest {
            KeyState::Active
        } else {
            KeyState::Retired
        };
        self.change_state(&record, next)?;
        self.after_change(record, next, "enabled")
    }

    /// Destroy key `id`: erase its sealed material, keep its metadata.
    pub fn destroy(&self, id: Uuid, options: &DestroyOptions) -> Result<KeyRecord, KmsError> {
        if Uuid::try_parse(options.confirm.trim()).ok() != Some(id) {
            return Err(KmsError::InvalidInput(format!(
                "destroying is irreversible: set confirm to the key id {id}"
            )));
        }
        let record = self.record(id)?;
        match record.state {
            KeyState::Destroyed => return Ok(record),
            KeyState::Active if !options.force => {
                return Err(KmsError::Conflict {
                    message: format!(
                        "key {id} is the active key of lineage {}; rotate it first, \
                         or set force to leave the lineage without an active key",
                        record.lineage_id
                    ),
                    current_key_id: Some(id),
                });
            }
            KeyState::Active | KeyState::Retired | KeyState::Disabled => {}
        }
        self.store
            .destroy(id, record.state)
            .map_err(|e| self.lost_race(&record, e))?;
        let mut tombstone = record;
        tombstone.state = KeyState::Destroyed;
        tombstone.sealed.clear();
        self.audit("destroyed", &tombstone);
        crate::log::info(format_args!("destroyed key_id={id}"));
        Ok(tombstone)
    }

    fn change_state(&self, record: &KeyRecord, next: KeyState) -> Result<(), KmsError> {
        self.store
            .update_state(record.id, record.state, next)
            .map_err(|e| self.lost_race(record, e))
    }

    /// A store conflict while changing `record`: someone changed it first.
    fn lost_race(&self, record: &KeyRecord, err: StoreError) -> KmsError {
        match err {
            StoreError::Conflict(current_key_id) => KmsError::Conflict {
                message: format!(
                    "key {} changed while this request ran; read it and retry",
                    record.id
                ),
                current_key_id,
            },
            other => other.into(),
        }
    }

    fn after_change(
        &self,
        mut record: KeyRecord,
        next: KeyState,
        action: &str,
    ) -> Result<KeyRecord, KmsError> {
        record.state = next;
        self.audit(action, &record);
        crate::log::info(format_args!(
            "{action} key_id={} state={}",
            record.id,
            next.name()
        ));
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuditFilter;
    use crate::ops::CreateOptions;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    fn confirm(id: Uuid, force: bool) -> DestroyOptions {
        DestroyOptions {
            confirm: id.to_string(),
            force,
        }
    }

    #[test]
    fn a_disabled_key_refuses_every_use_until_enabled() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let key = kms.create(CreateOptions::default()).unwrap();
        let (env, _) = kms.encrypt(key.id, b"data", b"").unwrap();

        assert_eq!(kms.disable(key.id).unwrap().state, KeyState::Disabled);
        assert!(matches!(
            kms.encrypt(key.id, b"x", b""),
            Err(KmsError::KeyNotUsable(_))
        ));
        match kms.encrypt(key.lineage_id, b"x", b"") {
            Err(KmsError::Conflict { message, .. }) => assert!(message.contains("no active key")),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(matches!(
            kms.decrypt(&env, b""),
            Err(KmsError::KeyNotUsable(_))
        ));
        assert!(matches!(kms.rotate(key.id), Err(KmsError::Conflict { .. })));
        // Disabling twice answers with the key as it is.
        assert_eq!(kms.disable(key.id).unwrap().state, KeyState::Disabled);

        assert_eq!(kms.enable(key.id).unwrap().state, KeyState::Active);
        assert_eq!(&*kms.decrypt(&env, b"").unwrap().0, b"data");
        assert_eq!(store.get(key.id).unwrap().unwrap().state, KeyState::Active);
    }

    #[test]
    fn enabling_an_older_version_returns_it_to_retired() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let v2 = kms.rotate(v1.id).unwrap();

        kms.disable(v1.id).unwrap();
        kms.disable(v2.id).unwrap();
        assert_eq!(kms.enable(v1.id).unwrap().state, KeyState::Retired);
        assert_eq!(kms.enable(v2.id).unwrap().state, KeyState::Active);

        let actions: Vec<String> = store
            .audit(&AuditFilter {
                limit: 20,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "created", "rotated", "disabled", "disabled", "enabled", "enabled"
            ]
        );
    }

    #[test]
    fn destroy_needs_the_key_id_as_confirmation() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        kms.rotate(v1.id).unwrap();

        for confirm in ["", "yes", "true", &Uuid::from_u128(1).to_string()] {
            let options = DestroyOptions {
                confirm: confirm.into(),
                force: true,
            };
            assert!(matches!(
                kms.destroy(v1.id, &options),
                Err(KmsError::InvalidInput(_))
            ));
        }
        assert_eq!(store.get(v1.id).unwrap().unwrap().state, KeyState::Retired);
    }

    #[test]
    fn destroying_the_active_key_needs_force() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let key = kms.create(CreateOptions::default()).unwrap();

        match kms.destroy(key.id, &confirm(key.id, false)) {
            Err(KmsError::Conflict { message, .. }) => assert!(message.contains("force")),
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert!(!store.get(key.id).unwrap().unwrap().sealed.is_empty());
        let gone = kms.destroy(key.id, &confirm(key.id, true)).unwrap();
        assert_eq!(gone.state, KeyState::Destroyed);
    }

    #[test]
    fn a_destroyed_key_is_a_tombstone_whose_envelopes_fail_by_name() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let (env, _) = kms.encrypt(v1.id, b"shredded", b"").unwrap();
        let v2 = kms.rotate(v1.id).unwrap();

        let tombstone = kms.destroy(v1.id, &confirm(v1.id, false)).unwrap();
        assert_eq!(tombstone.state, KeyState::Destroyed);

        let stored = store.get(v1.id).unwrap().unwrap();
        assert!(stored.sealed.is_empty(), "material must be erased");
        assert_eq!(stored.state, KeyState::Destroyed);
        assert_eq!(
            kms.decrypt(&env, b"").unwrap_err(),
            KmsError::KeyDestroyed(v1.id)
        );
        assert!(
            KmsError::KeyDestroyed(v1.id)
                .to_string()
                .contains(&v1.id.to_string())
        );
        assert_eq!(
            kms.enable(v1.id).unwrap_err(),
            KmsError::KeyDestroyed(v1.id)
        );
        assert_eq!(
            kms.disable(v1.id).unwrap_err(),
            KmsError::KeyDestroyed(v1.id)
        );
        // Destroying twice answers with the tombstone.
        assert_eq!(
            kms.destroy(v1.id, &confirm(v1.id, false)).unwrap().state,
            KeyState::Destroyed
        );

        let lineage = kms.lineage(v1.lineage_id).unwrap();
        let ids: Vec<_> = lineage.iter().map(|r| (r.id, r.state)).collect();
        assert_eq!(
            ids,
            [(v1.id, KeyState::Destroyed), (v2.id, KeyState::Active)]
        );
    }

    #[test]
    fn unknown_keys_are_not_found() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let id = Uuid::from_u128(77);
        assert!(matches!(kms.disable(id), Err(KmsError::NotFound(_))));
        assert!(matches!(kms.enable(id), Err(KmsError::NotFound(_))));
        assert!(matches!(
            kms.destroy(id, &confirm(id, true)),
            Err(KmsError::NotFound(_))
        ));
    }
}
