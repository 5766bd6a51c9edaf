//! Sealing key records under the master key, before any store sees them.
//!
//! The master key never encrypts anything itself. Two keys are derived from
//! it with HKDF-SHA256 (RFC 5869): a sealing key (`info = "qimem/seal/v1"`)
//! and a fingerprint (`info = "qimem/fingerprint/v1"`, 8 bytes, printed as
//! hex) that names the master key in each record without revealing it.
//!
//! A sealed record is `0x01 || nonce (12) || AES-256-GCM(material) || tag`,
//! with the record's identity (id, lineage, version, algorithm) and the
//! fingerprint as associated data: material cannot be moved to another
//! record, and a record cannot be relabelled, without unsealing failing.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::model::KeyRecord;
use crate::secret::{KeyMaterial, fill_random};

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// One master key, held only as its derived sealing key and fingerprint.
pub struct MasterKey {
    seal_key: Zeroizing<[u8; 32]>,
    fingerprint: String,
}

impl MasterKey {
    /// Parse a master key from configuration: 32 bytes as standard base64
    /// or as 64 hex digits. The error never repeats the text.
    pub fn parse(text: &str) -> Result<MasterKey, KmsError> {
        let text = text.trim();
        let hex = (text.len() == 64).then(|| hex::decode(text).ok()).flatten();
        let bytes = Zeroizing::new(
            hex.or_else(|| STANDARD.decode(text).ok())
                .unwrap_or_default(),
        );
        let master: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            KmsError::Internal("master key must be 32 bytes, as base64 or 64 hex digits".into())
        })?;
        Ok(MasterKey::derive(&Zeroizing::new(master)))
    }

    fn derive(master: &Zeroizing<[u8; 32]>) -> MasterKey {
        let hk = Hkdf::<Sha256>::new(None, master.as_slice());
        let mut seal_key = Zeroizing::new([0u8; 32]);
        let mut fp = [0u8; 8];
        // Expanding 32 and 8 bytes is far below HKDF's limit of 255 * 32.
        hk.expand(b"qimem/seal/v1", seal_key.as_mut_slice())
            .expect("hkdf output length is valid");
        hk.expand(b"qimem/fingerprint/v1", &mut fp)
            .expect("hkdf output length is valid");
        let fingerprint = fp.iter().map(|b| format!("{b:02x}")).collect();
        MasterKey {
            seal_key,
            fingerprint,
        }
    }

    /// The public name of this master key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// The current master key and, while records are resealed, the previous one.
pub struct MasterKeys {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl MasterKeys {
    /// Keys from the current and the optional previous master key.
    pub fn new(current: MasterKey, previous: Option<MasterKey>) -> MasterKeys {
        MasterKeys { current, previous }
    }

    /// The fingerprint new records are sealed under.
    pub fn current_fingerprint(&self) -> &str {
        self.current.fingerprint()
    }

    /// Seal `material` for `record` (whose `sealed` and `seal_key_id` are
    /// filled in here) under the current master key.
    pub fn seal(&self, record: &mut KeyRecord, material: &KeyMaterial) -> Result<(), KmsError> {
        let key = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let aad = record_aad(record, key.fingerprint());
        let cipher = Aes256Gcm::new_from_slice(key.seal_key.as_slice())
            .map_err(|_| KmsError::Internal("seal key length".into()))?;
        let ct = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: material.expose(),
                    aad: &aad,
                },
            )
            .map_err(|_| KmsError::Internal("sealing failed".into()))?;

        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ct);
        record.sealed = sealed;
        record.seal_key_id = key.fingerprint().to_owned();
        Ok(())
    }

    /// Unseal a record's material with whichever configured master key
    /// sealed it.
    pub fn unseal(&self, record: &KeyRecord) -> Result<KeyMaterial, KmsError> {
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.fingerprint() == record.seal_key_id)
            .ok_or_else(|| {
                KmsError::Internal(format!(
                    "key {} is sealed under master key {}, which is not configured",
                    record.id, record.seal_key_id
                ))
            })?;
        let corrupt =
            || KmsError::Internal(format!("sealed record of key {} is corrupt", record.id));

        let (&version, rest) = record.sealed.split_first().ok_or_else(corrupt)?;
        let (nonce, ct) = rest.split_at_checked(NONCE_LEN).ok_or_else(corrupt)?;
        if version != SEAL_VERSION {
            return Err(corrupt());
        }
        let aad = record_aad(record, key.fingerprint());
        let cipher = Aes256Gcm::new_from_slice(key.seal_key.as_slice()).map_err(|_| corrupt())?;
        let nonce = nonce.try_into().map_err(|_| corrupt())?;
        let plain = cipher
            .decrypt(nonce, Payload { msg: ct, aad: &aad })
            .map_err(|_| corrupt())?;
        Ok(KeyMaterial::from_bytes(Zeroizing::new(plain)))
    }
}

/// The associated data that binds sealed material to its record.
fn record_aad(record: &KeyRecord, fingerprint: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64);
    aad.extend_from_slice(b"qimem/record/v1");
    aad.extend_from_slice(record.id.as_bytes());
    aad.extend_from_slice(record.lineage_id.as_bytes());
    aad.extend_from_slice(&record.version.to_be_bytes());
    aad.push(record.algorithm.id());
    aad.extend_from_slice(fingerprint.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::model::{Algorithm, KeyState};

    const MASTER_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const MASTER_B_HEX: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    fn record() -> KeyRecord {
        KeyRecord {
            id: Uuid::from_u128(1),
            lineage_id: Uuid::from_u128(2),
            version: 1,
            parent_id: None,
            algorithm: Algorithm::Aes256Gcm,
            state: KeyState::Active,
            created_at: 0,
            labels: vec![],
            sealed: vec![],
            seal_key_id: String::new(),
        }
    }

    fn material() -> KeyMaterial {
        KeyMaterial::from_bytes(Zeroizing::new((0u8..32).collect()))
    }

    #[test]
    fn sealed_material_opens_and_does_not_contain_the_key() {
        let keys = MasterKeys::new(MasterKey::parse(MASTER_A).unwrap(), None);
        let mut rec = record();
        keys.seal(&mut rec, &material()).unwrap();

        assert_eq!(rec.seal_key_id, keys.current_fingerprint());
        assert_eq!(rec.sealed.len(), 1 + 12 + 32 + 16);
        let raw: Vec<u8> = (0u8..32).collect();
        assert!(
            !rec.sealed
                .windows(8)
                .any(|w| raw.windows(8).any(|r| r == w))
        );
        assert_eq!(keys.unseal(&rec).unwrap().expose(), raw.as_slice());
    }

    #[test]
    fn changing_the_record_identity_breaks_the_seal() {
        let keys = MasterKeys::new(MasterKey::parse(MASTER_A).unwrap(), None);
        let mut rec = record();
        keys.seal(&mut rec, &material()).unwrap();

        let mut moved = rec.clone();
        moved.id = Uuid::from_u128(99);
        assert!(matches!(keys.unseal(&moved), Err(KmsError::Internal(_))));
        let mut bumped = rec.clone();
        bumped.version = 2;
        assert!(keys.unseal(&bumped).is_err());
        let mut flipped = rec;
        flipped.sealed[20] ^= 1;
        assert!(keys.unseal(&flipped).is_err());
    }

    #[test]
    fn previous_master_key_still_opens_old_records() {
        let old = MasterKeys::new(MasterKey::parse(MASTER_A).unwrap(), None);
        let mut rec = record();
        old.seal(&mut rec, &material()).unwrap();

        let without = MasterKeys::new(MasterKey::parse(MASTER_B_HEX).unwrap(), None);
        let err = without.unseal(&rec).err().unwrap();
        assert!(err.to_string().contains(&rec.seal_key_id));

        let with = MasterKeys::new(
            MasterKey::parse(MASTER_B_HEX).unwrap(),
            Some(MasterKey::parse(MASTER_A).unwrap()),
        );
        assert_eq!(with.unseal(&rec).unwrap().len(), 32);
    }

    #[test]
    fn master_key_parsing_rejects_bad_text_without_echoing_it() {
        for bad in ["", "c2hvcnQ=", "zz", &"g".repeat(64)] {
            let err = MasterKey::parse(bad).err().unwrap().to_string();
            assert!(err.contains("32 bytes"));
            assert!(bad.is_empty() || !err.contains(bad));
        }
        let a = MasterKey::parse(MASTER_A).unwrap();
        let b = MasterKey::parse(MASTER_B_HEX).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
    }
}
