//! `create`: version 1 of a new lineage with fresh random material.

use super::{Kms, new_id, now_ms};
use crate::error::KmsError;
use crate::model::{Algorithm, KeyRecord, KeyState};
use crate::secret::KeyMaterial;
use crate::store::Store;

/// Most labels one key may carry.
pub const MAX_LABELS: usize = 64;
/// Longest label name or value, in bytes.
pub const MAX_LABEL_LEN: usize = 256;

/// What a new key looks like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// The algorithm; AES-256-GCM when absent.
    pub algorithm: Option<Algorithm>,
    /// Labels (name, value).
    pub labels: Vec<(String, String)>,
}

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Create a key: version 1 of a new lineage.
    pub fn create(&self, options: CreateOptions) -> Result<KeyRecord, KmsError> {
        let algorithm = options.algorithm.unwrap_or(Algorithm::Aes256Gcm);
        let material = KeyMaterial::generate(algorithm.key_len())?;
        self.new_lineage(&material, options, "created")
    }

    /// Seal `material` as version 1 of a new lineage, store it and record
    /// `action` in the audit trail. The caller has checked the length.
    pub(super) fn new_lineage(
        &self,
        material: &KeyMaterial,
        options: CreateOptions,
        action: &str,
    ) -> Result<KeyRecord, KmsError> {
        let labels = check_labels(options.labels)?;
        let algorithm = options.algorithm.unwrap_or(Algorithm::Aes256Gcm);
        let now = now_ms();

        let mut record = KeyRecord {
            id: new_id(now)?,
            lineage_id: new_id(now)?,
            version: 1,
            parent_id: None,
            algorithm,
            state: KeyState::Active,
            created_at: now,
            labels,
            sealed: Vec::new(),
            seal_key_id: String::new(),
        };
        self.keys.seal(&mut record, material)?;
        self.store.insert(&record)?;
        self.audit(action, &record);

        crate::log::info(format_args!(
            "{action} key_id={} lineage_id={} algorithm={}",
            record.id,
            record.lineage_id,
            algorithm.name()
        ));
        Ok(record)
    }
}

/// Sort labels by name and refuse duplicates and oversized ones.
fn check_labels(mut labels: Vec<(String, String)>) -> Result<Vec<(String, String)>, KmsError> {
    if labels.len() > MAX_LABELS {
        return Err(KmsError::InvalidInput(format!(
            "at most {MAX_LABELS} labels"
        )));
    }
    for (name, value) in &labels {
        if name.is_empty() || name.len() > MAX_LABEL_LEN || value.len() > MAX_LABEL_LEN {
            return Err(KmsError::InvalidInput(format!(
                "label names must be 1 to {MAX_LABEL_LEN} bytes and values at most {MAX_LABEL_LEN}"
            )));
        }
    }
    labels.sort();
    if labels.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(KmsError::InvalidInput("label names must be unique".into()));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    #[test]
    fn a_new_key_starts_its_own_lineage_sealed() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);

        let key = kms.create(CreateOptions::default()).unwrap();
        assert_eq!(key.version, 1);
        assert_eq!(key.state, KeyState::Active);
        assert_eq!(key.algorithm, Algorithm::Aes256Gcm);
        assert_ne!(key.id, key.lineage_id);
        assert_eq!(key.parent_id, None);
        assert_eq!(key.seal_key_id, keys.current_fingerprint());
        assert_eq!(store.get(key.id).unwrap(), Some(key.clone()));
        assert_eq!(keys.unseal(&key).unwrap().len(), 32);

        let trail = store.audit(&Default::default()).unwrap();
        assert!(trail.is_empty(), "limit 0 reads nothing");
        let filter = crate::model::AuditFilter {
            limit: 10,
            ..Default::default()
        };
        let trail = store.audit(&filter).unwrap();
        assert_eq!(trail.len(), 1);
        assert_eq!(
            (trail[0].action.as_str(), trail[0].key_id),
            ("created", Some(key.id))
        );
        assert_eq!(trail[0].actor, "anonymous");
    }

    #[test]
    fn labels_are_sorted_and_checked() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);

        let labels = vec![("team".into(), "a".into()), ("env".into(), "prod".into())];
        let key = kms
            .create(CreateOptions {
                labels,
                algorithm: Some(Algorithm::Aes256Siv),
            })
            .unwrap();
        assert_eq!(key.labels[0].0, "env");
        assert_eq!(keys.unseal(&key).unwrap().len(), 64);

        let dup = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        let err = kms.create(CreateOptions {
            labels: dup,
            algorithm: None,
        });
        assert!(matches!(err, Err(KmsError::InvalidInput(_))));
        let empty = vec![(String::new(), "1".into())];
        let err = kms.create(CreateOptions {
            labels: empty,
            algorithm: None,
        });
        assert!(matches!(err, Err(KmsError::InvalidInput(_))));
    }

    #[test]
    fn key_ids_sort_by_creation_time() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let a = kms.create(CreateOptions::default()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = kms.create(CreateOptions::default()).unwrap();
        assert!(a.id < b.id);
    }
}
