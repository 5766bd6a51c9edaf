//! The AEADs behind envelopes. No cryptography is written here: this module
//! only chooses RustCrypto primitives and lays out what they authenticate.
//!
//! Associated data. For the nonce-based AEADs the authenticated data is
//! `header || caller_aad`; the header has a fixed length per algorithm, so
//! the split is unambiguous. For AES-SIV (RFC 5297, section 2.4) the header
//! and the caller's data are two separate associated-data components. In
//! both cases empty associated data and absent associated data are the same.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_siv::siv::Aes256Siv;
use chacha20poly1305::XChaCha20Poly1305;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::envelope::{self, Envelope};
use crate::error::KmsError;
use crate::model::Algorithm;
use crate::secret::{KeyMaterial, fill_random};

/// Encrypt under a fresh random nonce and return the whole envelope.
pub fn encrypt(
    algorithm: Algorithm,
    key: &KeyMaterial,
    key_id: Uuid,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let mut nonce = [0u8; 24];
    let nonce = &mut nonce[..algorithm.nonce_len()];
    fill_random(nonce)?;
    encrypt_with_nonce(algorithm, key, key_id, nonce, aad, plaintext)
}

/// Encrypt with a caller-chosen nonce. Only tests and known-answer checks
/// choose nonces; a repeated nonce under one key breaks GCM and XChaCha.
pub fn encrypt_with_nonce(
    algorithm: Algorithm,
    key: &KeyMaterial,
    key_id: Uuid,
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    if nonce.len() != algorithm.nonce_len() {
        return Err(nonce_err());
    }
    let header = envelope::header(algorithm, key_id, nonce);
    let sealed = seal_raw(algorithm, key, nonce, &[&header, aad], plaintext)?;

    let mut out = header;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Open a parsed envelope. Any failure is the one opaque `DecryptionFailed`,
/// and no plaintext exists before the tag has been checked.
pub fn decrypt(
    env: &Envelope<'_>,
    key: &KeyMaterial,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    open_raw(env.algorithm, key, env.nonce, &[env.header, aad], env.body)
}

/// The bare AEAD: seal `plaintext` under `key` and `nonce`, authenticating
/// the associated-data components `ad`. The nonce-based AEADs authenticate
/// the components joined end to end; AES-SIV takes them as its vector of
/// strings (RFC 5297, section 2.6: "S1, ..., Sn"). Returns ciphertext and
/// tag (SIV: synthetic IV first). Envelopes use it with `[header, aad]`;
/// the known-answer tests use it with a single component.
pub fn seal_raw(
    algorithm: Algorithm,
    key: &KeyMaterial,
    nonce: &[u8],
    ad: &[&[u8]],
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    if key.len() != algorithm.key_len() || nonce.len() != algorithm.nonce_len() {
        return Err(KmsError::Internal("key or nonce length mismatch".into()));
    }
    let too_long = |_| KmsError::InvalidInput("plaintext or associated data too long".into());
    match algorithm {
        Algorithm::Aes256Gcm => {
            let cipher = Aes256Gcm::new_from_slice(key.expose()).map_err(key_len_err)?;
            let joined = ad.concat();
            let payload = Payload {
                msg: plaintext,
                aad: &joined,
            };
            cipher.encrypt(nonce.try_into().map_err(|_| nonce_err())?, payload)
        }
        Algorithm::XChaCha20Poly1305 => {
            let cipher = XChaCha20Poly1305::new_from_slice(key.expose()).map_err(key_len_err)?;
            let joined = ad.concat();
            let payload = Payload {
                msg: plaintext,
                aad: &joined,
            };
            cipher.encrypt(nonce.try_into().map_err(|_| nonce_err())?, payload)
        }
        Algorithm::Aes256Siv => {
            let mut cipher = Aes256Siv::new_from_slice(key.expose()).map_err(key_len_err)?;
            cipher.encrypt(ad, plaintext)
        }
    }
    .map_err(too_long)
}

/// The bare AEAD's inverse of [`seal_raw`]. Every failure, including a key
/// or nonce of the wrong length, is `DecryptionFailed`.
pub fn open_raw(
    algorithm: Algorithm,
    key: &KeyMaterial,
    nonce: &[u8],
    ad: &[&[u8]],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    if key.len() != algorithm.key_len() || nonce.len() != algorithm.nonce_len() {
        return Err(KmsError::DecryptionFailed);
    }
    let plain = match algorithm {
        Algorithm::Aes256Gcm => {
            let cipher = Aes256Gcm::new_from_slice(key.expose()).map_err(opaque)?;
            let joined = ad.concat();
            let payload = Payload {
                msg: sealed,
                aad: &joined,
            };
            cipher.decrypt(nonce.try_into().map_err(opaque)?, payload)
        }
        Algorithm::XChaCha20Poly1305 => {
            let cipher = XChaCha20Poly1305::new_from_slice(key.expose()).map_err(opaque)?;
            let joined = ad.concat();
            let payload = Payload {
                msg: sealed,
                aad: &joined,
            };
            cipher.decrypt(nonce.try_into().map_err(opaque)?, payload)
        }
        Algorithm::Aes256Siv => {
            let mut cipher = Aes256Siv::new_from_slice(key.expose()).map_err(opaque)?;
            cipher.decrypt(ad, sealed)
        }
    }
    .map_err(opaque)?;
    Ok(Zeroizing::new(plain))
}

fn opaque<E>(_: E) -> KmsError {
    KmsError::DecryptionFailed
}

fn key_len_err<E>(_: E) -> KmsError {
    KmsError::Internal("key length does not fit the algorithm".into())
}

fn nonce_err() -> KmsError {
    KmsError::Internal("nonce length does not fit the algorithm".into())
}

#[cfg(test)]
mod kat;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(alg: Algorithm, fill: u8) -> KeyMaterial {
        KeyMaterial::from_bytes(Zeroizing::new(vec![fill; alg.key_len()]))
    }

    #[test]
    fn every_algorithm_round_trips_with_associated_data() {
        for alg in Algorithm::ALL {
            let k = key(alg, 3);
            let id = Uuid::from_u128(42);
            let env = encrypt(alg, &k, id, b"ctx", b"hello").unwrap();
            let parsed = envelope::parse(&env).unwrap();
            assert_eq!(parsed.key_id, id);
            assert_eq!(&*decrypt(&parsed, &k, b"ctx").unwrap(), b"hello");
            assert_eq!(
                decrypt(&parsed, &k, b"other"),
                Err(KmsError::DecryptionFailed)
            );
            assert_eq!(
                decrypt(&parsed, &key(alg, 4), b"ctx"),
                Err(KmsError::DecryptionFailed)
            );
        }
    }

    #[test]
    fn flipping_any_bit_of_any_envelope_fails_opaquely() {
        for alg in Algorithm::ALL {
            let k = key(alg, 5);
            let env = encrypt(alg, &k, Uuid::from_u128(7), b"", b"secret data").unwrap();
            for byte in 0..env.len() {
                for bit in 0..8 {
                    let mut bad = env.clone();
                    bad[byte] ^= 1 << bit;
                    let result = envelope::parse(&bad).and_then(|p| {
                        // A flipped key id parses but names another key; the
                        // real service would not find it. Open with the same
                        // key anyway: the header is authenticated.
                        decrypt(&p, &k, b"")
                    });
                    assert_eq!(
                        result,
                        Err(KmsError::DecryptionFailed),
                        "{alg:?} {byte}:{bit}"
                    );
                }
            }
        }
    }

    #[test]
    fn siv_is_deterministic_and_binds_associated_data() {
        let k = key(Algorithm::Aes256Siv, 9);
        let id = Uuid::from_u128(1);
        let a = encrypt(Algorithm::Aes256Siv, &k, id, b"aad", b"same").unwrap();
        let b = encrypt(Algorithm::Aes256Siv, &k, id, b"aad", b"same").unwrap();
        let c = encrypt(Algorithm::Aes256Siv, &k, id, b"aae", b"same").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn nonce_based_algorithms_never_repeat_an_envelope() {
        for alg in [Algorithm::Aes256Gcm, Algorithm::XChaCha20Poly1305] {
            let k = key(alg, 1);
            let a = encrypt(alg, &k, Uuid::nil(), b"", b"same").unwrap();
            let b = encrypt(alg, &k, Uuid::nil(), b"", b"same").unwrap();
            assert_ne!(a, b);
        }
    }
}
#[cfg(test)]
mod worked_example {
    //! `docs/envelope.md` carries a worked example; its bytes must be the
    //! bytes this code produces.

    use super::*;

    const DOC: &str = include_str!("../../docs/envelope.md");

    /// The value after `label` on its line in the document.
    fn field(label: &str) -> String {
        DOC.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("{label} missing from docs/envelope.md"))
            .trim()
            .trim_matches('"')
            .to_string()
    }

    #[test]
    fn the_documented_example_matches_byte_for_byte() {
        let key = hex::decode(field("key (hex):")).unwrap();
        let key = KeyMaterial::from_bytes(Zeroizing::new(key));
        let id = Uuid::parse_str(&field("key id:")).unwrap();
        let nonce = hex::decode(field("nonce (hex):")).unwrap();
        let aad = field("associated data:");
        let plaintext = field("plaintext:");

        let env = encrypt_with_nonce(
            Algorithm::Aes256Gcm,
            &key,
            id,
            &nonce,
            aad.as_bytes(),
            plaintext.as_bytes(),
        )
        .unwrap();
        let documented = field("envelope (hex):").replace(' ', "");
        assert_eq!(hex::encode(&env), documented);

        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&env);
        assert_eq!(b64, field("envelope (base64):"));
        let parsed = envelope::parse(&env).unwrap();
        assert_eq!(
            &*decrypt(&parsed, &key, aad.as_bytes()).unwrap(),
            plaintext.as_bytes()
        );
    }
}
