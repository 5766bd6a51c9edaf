//! `encrypt`: plaintext into an envelope under an active key.

use uuid::Uuid;

use super::Kms;
use crate::cipher;
use crate::error::KmsError;
use crate::model::{KeyRecord, KeyState};
use crate::store::Store;

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Encrypt under `key`: a key id, or a lineage id meaning the lineage's
    /// active key. Returns the envelope and the key that made it.
    pub fn encrypt(
        &self,
        key: Uuid,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, KeyRecord), KmsError> {
        let record = self.encryption_key(key)?;
        let material = self.keys.unseal(&record)?;
        let envelope = cipher::encrypt(record.algorithm, &material, record.id, aad, plaintext)?;

        crate::log::info(format_args!("encrypted with key_id={}", record.id));
        Ok((envelope, record))
    }

    /// The key that encrypts for `key`: itself when it is an active key id,
    /// the active key when it is a lineage id.
    pub(crate) fn encryption_key(&self, key: Uuid) -> Result<KeyRecord, KmsError> {
        let record = match self.store.get(key)? {
            Some(record) => record,
            None => match self.store.active(key)? {
                Some(active) => active,
                None if self.store.lineage(key)?.is_empty() => {
                    return Err(KmsError::NotFound(format!("no key or lineage {key}")));
                }
                None => return Err(super::no_active_key(key)),
            },
        };
        match record.state {
            KeyState::Active => Ok(record),
            KeyState::Retired => Err(self.not_active(&record, "so it only decrypts")),
            KeyState::Disabled | KeyState::Destroyed => {
                super::ensure_usable(&record).map(|_| record)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope;
    use crate::ops::CreateOptions;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    #[test]
    fn a_lineage_id_encrypts_with_the_active_key() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let v2 = kms.rotate(v1.id).unwrap();

        let (env, used) = kms.encrypt(v1.lineage_id, b"x", b"").unwrap();
        assert_eq!(used.id, v2.id);
        assert_eq!(envelope::parse(&env).unwrap().key_id, v2.id);
    }

    #[test]
    fn encrypting_with_a_retired_key_is_a_conflict_naming_the_current_key() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let v2 = kms.rotate(v1.id).unwrap();

        match kms.encrypt(v1.id, b"x", b"") {
            Err(KmsError::Conflict {
                message,
                current_key_id,
            }) => {
                assert_eq!(current_key_id, Some(v2.id));
                assert!(message.contains(&v2.id.to_string()));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_are_not_found() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let err = kms.encrypt(Uuid::from_u128(3), b"x", b"");
        assert!(matches!(err, Err(KmsError::NotFound(_))));
    }

    // RFC 5297, section 1.3: deterministic authenticated encryption. Equal
    // key, plaintext and associated data give the same envelope; anything
    // else differs.
    #[test]
    fn deterministic_keys_give_byte_identical_envelopes_for_equal_inputs() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let siv = |labels| CreateOptions {
            algorithm: Some(crate::model::Algorithm::Aes256Siv),
            labels,
        };
        let key = kms.create(siv(vec![])).unwrap();
        let other = kms.create(siv(vec![])).unwrap();
        let enc = |id, p: &[u8], a: &[u8]| kms.encrypt(id, p, a).unwrap().0;

        assert_eq!(
            enc(key.id, b"alice", b"email"),
            enc(key.id, b"alice", b"email")
        );
        // A lineage id names the same key, so the same envelope.
        assert_eq!(
            enc(key.lineage_id, b"alice", b"email"),
            enc(key.id, b"alice", b"email")
        );
        assert_ne!(
            enc(key.id, b"alice", b"email"),
            enc(key.id, b"alice", b"phone")
        );
        assert_ne!(
            enc(key.id, b"alice", b"email"),
            enc(key.id, b"alicf", b"email")
        );
        assert_ne!(
            enc(key.id, b"alice", b"email"),
            enc(other.id, b"alice", b"email")
        );
        assert_eq!(enc(key.id, b"", b""), enc(key.id, b"", b""));
        assert_ne!(enc(key.id, b"", b""), enc(key.id, b"", b"x"));
        // Associated data is bound as one string: moving bytes between the
        // plaintext and the associated data changes the envelope.
        assert_ne!(enc(key.id, b"ab", b"c"), enc(key.id, b"a", b"bc"));
    }
}
