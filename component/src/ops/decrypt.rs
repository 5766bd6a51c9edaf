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
}
