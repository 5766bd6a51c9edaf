//! `generate-data-key`: a fresh 256-bit key for envelope encryption in the
//! client, returned in plaintext and wrapped (an ordinary envelope) under a
//! QIMEM key, or wrapped only.

use uuid::Uuid;

use super::Kms;
use crate::cipher;
use crate::error::KmsError;
use crate::model::KeyRecord;
use crate::secret::KeyMaterial;
use crate::store::Store;

/// Length of a data key in bytes (256 bits).
pub const DATA_KEY_LEN: usize = 32;

/// A new data key.
pub struct DataKey {
    /// The data key itself; `None` for the wrapped-only variant.
    pub plaintext: Option<KeyMaterial>,
    /// The data key sealed under `key`: an envelope that `decrypt` opens
    /// with the same associated data.
    pub wrapped: Vec<u8>,
    /// The key that wrapped it.
    pub key: KeyRecord,
}

impl<S: Store + ?Sized> Kms<'_, S> {
    /// A fresh data key wrapped under `key` (a key id or a lineage id, as
    /// for `encrypt`) with `aad`; the plaintext key is returned only when
    /// `with_plaintext`.
    pub fn generate_data_key(
        &self,
        key: Uuid,
        aad: &[u8],
        with_plaintext: bool,
    ) -> Result<DataKey, KmsError> {
        let record = self.encryption_key(key)?;
        let material = self.keys.unseal(&record)?;
        let data_key = KeyMaterial::generate(DATA_KEY_LEN)?;
        let wrapped = cipher::encrypt(
            record.algorithm,
            &material,
            record.id,
            aad,
            data_key.expose(),
        )?;

        crate::log::info(format_args!(
            "generated data key under key_id={}",
            record.id
        ));
        Ok(DataKey {
            plaintext: with_plaintext.then_some(data_key),
            wrapped,
            key: record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Algorithm;
    use crate::ops::CreateOptions;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    #[test]
    fn the_wrapped_data_key_decrypts_to_the_plaintext_one() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        for alg in Algorithm::ALL {
            let key = kms
                .create(CreateOptions {
                    algorithm: Some(alg),
                    labels: vec![],
                })
                .unwrap();
            let dk = kms
                .generate_data_key(key.lineage_id, b"file-1", true)
                .unwrap();
            let plain = dk.plaintext.expect("plaintext requested");
            assert_eq!(plain.len(), DATA_KEY_LEN);
            assert_eq!(dk.key.id, key.id);

            let (opened, _) = kms.decrypt(&dk.wrapped, b"file-1").unwrap();
            assert_eq!(&*opened, plain.expose());
            assert_eq!(
                kms.decrypt(&dk.wrapped, b"file-2").unwrap_err(),
                KmsError::DecryptionFailed
            );
        }
    }

    #[test]
    fn every_data_key_is_fresh_and_the_wrapped_variant_has_no_plaintext() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let key = kms.create(CreateOptions::default()).unwrap();
        let a = kms.generate_data_key(key.id, b"", true).unwrap();
        let b = kms.generate_data_key(key.id, b"", true).unwrap();
        assert_ne!(
            a.plaintext.as_ref().map(KeyMaterial::expose),
            b.plaintext.as_ref().map(KeyMaterial::expose)
        );

        let only = kms.generate_data_key(key.id, b"", false).unwrap();
        assert!(only.plaintext.is_none());
        assert_eq!(
            kms.decrypt(&only.wrapped, b"").unwrap().0.len(),
            DATA_KEY_LEN
        );
    }

    #[test]
    fn a_retired_key_wraps_no_data_keys() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        kms.rotate(v1.id).unwrap();
        assert!(matches!(
            kms.generate_data_key(v1.id, b"", false),
            Err(KmsError::Conflict { .. })
        ));
    }
}
