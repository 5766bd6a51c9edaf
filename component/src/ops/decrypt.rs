//! `decrypt`: open an envelope with the key it names.

use zeroize::Zeroizing;

use super::{Kms, ensure_usable};
use crate::error::KmsError;
use crate::model::KeyRecord;
use crate::store::Store;
use crate::{cipher, envelope};

impl<S: Store + ?Sized> Kms<'_, S> {
    /// Open `envelope` with the same `aad` it was made with. Malformed
    /// envelopes, unknown keys, wrong associated data and bad tags are all
    /// the one `DecryptionFailed`; only a disabled or destroyed key is named.
    pub fn decrypt(
        &self,
        envelope: &[u8],
        aad: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, KeyRecord), KmsError> {
        let parsed = envelope::parse(envelope)?;
        let record = self
            .store
            .get(parsed.key_id)?
            .ok_or(KmsError::DecryptionFailed)?;
        ensure_usable(&record)?;
        if record.algorithm != parsed.algorithm {
            return Err(KmsError::DecryptionFailed);
        }

        let material = self.keys.unseal(&record)?;
        let plaintext = cipher::decrypt(&parsed, &material, aad)?;
        crate::log::info(format_args!("decrypted with key_id={}", record.id));
        Ok((plaintext, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::CreateOptions;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    #[test]
    fn envelopes_of_a_retired_key_still_decrypt() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let v1 = kms.create(CreateOptions::default()).unwrap();
        let (env, _) = kms.encrypt(v1.id, b"old data", b"ctx").unwrap();
        kms.rotate(v1.id).unwrap();

        let (plain, used) = kms.decrypt(&env, b"ctx").unwrap();
        assert_eq!(&*plain, b"old data");
        assert_eq!(used.id, v1.id);
    }

    #[test]
    fn wrong_aad_unknown_key_and_garbage_are_one_error() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let key = kms.create(CreateOptions::default()).unwrap();
        let (env, _) = kms.encrypt(key.id, b"data", b"ctx").unwrap();

        assert_eq!(
            kms.decrypt(&env, b"").err(),
            Some(KmsError::DecryptionFailed)
        );
        assert_eq!(
            kms.decrypt(b"garbage", b"").err(),
            Some(KmsError::DecryptionFailed)
        );
        let other = MemoryStore::new();
        let elsewhere = Kms::new(&other, &keys);
        assert_eq!(
            elsewhere.decrypt(&env, b"ctx").err(),
            Some(KmsError::DecryptionFailed)
        );
    }

    #[test]
    fn flipping_any_bit_of_a_stored_keys_envelope_fails_opaquely_for_every_algorithm() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        for alg in crate::model::Algorithm::ALL {
            let key = kms
                .create(CreateOptions {
                    algorithm: Some(alg),
                    labels: vec![],
                })
                .unwrap();
            let (env, _) = kms.encrypt(key.id, b"tamper-evident", b"aad").unwrap();
            assert!(kms.decrypt(&env, b"aad").is_ok());
            // Header (version, algorithm, key id), nonce, ciphertext, tag.
            for byte in 0..env.len() {
                for bit in 0..8 {
                    let mut bad = env.clone();
                    bad[byte] ^= 1 << bit;
                    assert_eq!(
                        kms.decrypt(&bad, b"aad").err(),
                        Some(KmsError::DecryptionFailed),
                        "{alg:?} byte {byte} bit {bit}"
                    );
                }
            }
            for len in 0..env.len() {
                assert_eq!(
                    kms.decrypt(&env[..len], b"aad").err(),
                    Some(KmsError::DecryptionFailed)
                );
            }
        }
    }

    #[test]
    fn empty_plaintext_and_empty_associated_data_round_trip_for_every_algorithm() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        for alg in crate::model::Algorithm::ALL {
            let key = kms
                .create(CreateOptions {
                    algorithm: Some(alg),
                    labels: vec![],
                })
                .unwrap();
            let (env, _) = kms.encrypt(key.id, b"", b"").unwrap();
            assert!(kms.decrypt(&env, b"").unwrap().0.is_empty());
            let big = vec![0xa5u8; 1 << 20];
            let (env, _) = kms.encrypt(key.id, &big, &big[..4096]).unwrap();
            assert_eq!(*kms.decrypt(&env, &big[..4096]).unwrap().0, big);
        }
    }
}
