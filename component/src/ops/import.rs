//! `import`: bring your own key. The caller's material becomes version 1
//! of a new lineage, sealed like generated material; rotations of it get
//! fresh generated material.

use super::{CreateOptions, Kms};
use crate::error::KmsError;
use crate::model::{Algorithm, KeyRecord};
use crate::secret::KeyMaterial;
use crate::store::Store;

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Import `material` as a new key. Its length must be the algorithm's
    /// key length (32 bytes, or 64 for AES-256-SIV). The material is
    /// zeroized when `material` drops, sealed or not.
    pub fn import(
        &self,
        material: KeyMaterial,
        options: CreateOptions,
    ) -> Result<KeyRecord, KmsError> {
        let algorithm = options.algorithm.unwrap_or(Algorithm::Aes256Gcm);
        if material.len() != algorithm.key_len() {
            return Err(KmsError::InvalidInput(format!(
                "{} keys are {} bytes; the material has {}",
                algorithm.name(),
                algorithm.key_len(),
                material.len()
            )));
        }
        self.new_lineage(&material, options, "imported")
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::model::{AuditFilter, KeyState};
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    fn material(len: usize, fill: u8) -> KeyMaterial {
        KeyMaterial::from_bytes(Zeroizing::new(vec![fill; len]))
    }

    #[test]
    fn imported_material_is_sealed_and_encrypts_like_the_caller_expects() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);

        let key = kms
            .import(material(32, 0x42), CreateOptions::default())
            .unwrap();
        assert_eq!((key.version, key.state), (1, KeyState::Active));
        let stored = store.get(key.id).unwrap().unwrap();
        assert!(!stored.sealed.windows(8).any(|w| w == [0x42; 8]));
        assert_eq!(keys.unseal(&stored).unwrap().expose(), &[0x42; 32]);

        // The envelope opens with the caller's own copy of the key.
        let (env, _) = kms.encrypt(key.id, b"byok", b"").unwrap();
        let parsed = crate::envelope::parse(&env).unwrap();
        let own = material(32, 0x42);
        assert_eq!(
            &*crate::cipher::decrypt(&parsed, &own, b"").unwrap(),
            b"byok"
        );

        let trail = store
            .audit(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(trail[0].action, "imported");
    }

    #[test]
    fn material_of_the_wrong_length_is_refused_for_every_algorithm() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        for alg in Algorithm::ALL {
            for len in [0, 16, alg.key_len() - 1, alg.key_len() + 1, 96] {
                let options = CreateOptions {
                    algorithm: Some(alg),
                    labels: vec![],
                };
                let err = kms.import(material(len, 1), options).unwrap_err();
                assert!(matches!(err, KmsError::InvalidInput(_)), "{alg:?} {len}");
            }
            let options = CreateOptions {
                algorithm: Some(alg),
                labels: vec![],
            };
            assert!(kms.import(material(alg.key_len(), 1), options).is_ok());
        }
    }

    #[test]
    fn an_imported_key_rotates_to_generated_material() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms
            .import(
                material(64, 7),
                CreateOptions {
                    algorithm: Some(Algorithm::Aes256Siv),
                    labels: vec![("origin".into(), "hsm".into())],
                },
            )
            .unwrap();
        let v2 = kms.rotate(v1.id).unwrap();
        assert_eq!(v2.algorithm, Algorithm::Aes256Siv);
        assert_eq!(v2.labels, v1.labels);
        assert_ne!(keys.unseal(&v2).unwrap().expose(), &[7u8; 64]);
        assert_eq!(keys.unseal(&v2).unwrap().len(), 64);
    }
}
