//! `rewrap`: move an envelope to the current key of its lineage without
//! the plaintext leaving the component.

use zeroize::Zeroizing;

use super::{Kms, no_active_key};
use crate::cipher;
use crate::error::KmsError;
use crate::model::KeyRecord;
use crate::store::Store;

/// The result of a rewrap.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewrapped {
    /// The new envelope, under the lineage's active key.
    pub envelope: Vec<u8>,
    /// The key that sealed the new envelope.
    pub key: KeyRecord,
    /// The key that had sealed the old one.
    pub previous: KeyRecord,
}

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Open `envelope` (made by any usable key of a lineage, with `aad`)
    /// and seal its plaintext again under the lineage's active key, with the
    /// same associated data. Opening fails exactly as `decrypt` does; a
    /// lineage without an active key is a conflict. An envelope already
    /// under the active key gets a fresh nonce (AES-SIV: the same bytes).
    pub fn rewrap(&self, envelope: &[u8], aad: &[u8]) -> Result<Rewrapped, KmsError> {
        let (plaintext, previous): (Zeroizing<Vec<u8>>, KeyRecord) = self.decrypt(envelope, aad)?;
        let key = self
            .store
            .active(previous.lineage_id)?
            .ok_or_else(|| no_active_key(previous.lineage_id))?;

        let material = self.keys.unseal(&key)?;
        let envelope = cipher::encrypt(key.algorithm, &material, key.id, aad, &plaintext)?;
        crate::log::info(format_args!(
            "rewrapped from key_id={} to key_id={}",
            previous.id, key.id
        ));
        Ok(Rewrapped {
            envelope,
            key,
            previous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope;
    use crate::model::Algorithm;
    use crate::ops::testing::master_keys;
    use crate::ops::{CreateOptions, DestroyOptions};
    use crate::store::MemoryStore;

    #[test]
    fn an_old_envelope_comes_back_under_the_current_key() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        for alg in Algorithm::ALL {
            let v1 = kms
                .create(CreateOptions {
                    algorithm: Some(alg),
                    labels: vec![],
                })
                .unwrap();
            let (old, _) = kms.encrypt(v1.id, b"migrate me", b"ctx").unwrap();
            let v2 = kms.rotate(v1.id).unwrap();
            let v3 = kms.rotate(v2.id).unwrap();

            let out = kms.rewrap(&old, b"ctx").unwrap();
            assert_eq!((out.previous.id, out.key.id), (v1.id, v3.id));
            assert_eq!(envelope::parse(&out.envelope).unwrap().key_id, v3.id);
            let (plain, used) = kms.decrypt(&out.envelope, b"ctx").unwrap();
            assert_eq!((plain.as_slice(), used.id), (&b"migrate me"[..], v3.id));
            // The associated data stays bound to the new envelope.
            assert_eq!(
                kms.decrypt(&out.envelope, b"").unwrap_err(),
                KmsError::DecryptionFailed
            );
        }
    }

    #[test]
    fn wrong_associated_data_is_the_opaque_error() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let (old, _) = kms.encrypt(v1.id, b"x", b"right").unwrap();
        kms.rotate(v1.id).unwrap();
        assert_eq!(
            kms.rewrap(&old, b"wrong").unwrap_err(),
            KmsError::DecryptionFailed
        );
        assert_eq!(
            kms.rewrap(b"", b"").unwrap_err(),
            KmsError::DecryptionFailed
        );
    }

    #[test]
    fn a_lineage_without_an_active_key_cannot_rewrap() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let (old, _) = kms.encrypt(v1.id, b"x", b"").unwrap();
        let v2 = kms.rotate(v1.id).unwrap();
        let force = DestroyOptions {
            confirm: v2.id.to_string(),
            force: true,
        };
        kms.destroy(v2.id, &force).unwrap();

        match kms.rewrap(&old, b"") {
            Err(KmsError::Conflict { message, .. }) => {
                assert!(message.contains(&v1.lineage_id.to_string()));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
}
