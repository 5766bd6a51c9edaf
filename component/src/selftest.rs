//! A start-of-request self test for `/v1/security/health`: the random
//! source works, sealing round-trips, and every algorithm round-trips and
//! rejects a tampered envelope.

use uuid::Uuid;

use crate::cipher;
use crate::envelope;
use crate::error::KmsError;
use crate::model::{Algorithm, KeyRecord, KeyState};
use crate::seal::MasterKeys;
use crate::secret::KeyMaterial;

/// Run the self test with throwaway keys; nothing is stored.
pub fn run(keys: &MasterKeys) -> Result<(), KmsError> {
    let fail = |what: &str| KmsError::Internal(format!("self test failed: {what}"));

    let a = KeyMaterial::generate(32)?;
    let b = KeyMaterial::generate(32)?;
    if a.expose() == b.expose() {
        return Err(fail("random source repeats"));
    }

    let mut record = KeyRecord {
        id: Uuid::nil(),
        lineage_id: Uuid::nil(),
        version: 1,
        parent_id: None,
        algorithm: Algorithm::Aes256Gcm,
        state: KeyState::Active,
        created_at: 0,
        labels: Vec::new(),
        sealed: Vec::new(),
        seal_key_id: String::new(),
    };
    keys.seal(&mut record, &a)?;
    if keys.unseal(&record)?.expose() != a.expose() {
        return Err(fail("seal"));
    }

    for alg in Algorithm::ALL {
        let key = KeyMaterial::generate(alg.key_len())?;
        let mut env = cipher::encrypt(alg, &key, Uuid::nil(), b"aad", b"self test")?;
        let parsed = envelope::parse(&env)?;
        if *cipher::decrypt(&parsed, &key, b"aad")? != *b"self test" {
            return Err(fail(alg.name()));
        }
        let last = env.len() - 1;
        env[last] ^= 1;
        if cipher::decrypt(&envelope::parse(&env)?, &key, b"aad").is_ok() {
            return Err(fail(alg.name()));
        }
    }
    Ok(())
}
