//! Plain Rust types for keys and records, independent of the generated bindings
//! so that every rule about them can be tested natively.

use uuid::Uuid;

/// The AEAD a key is used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// AES-256-GCM, random 96-bit nonce.
    Aes256Gcm,
    /// XChaCha20-Poly1305, random 192-bit nonce.
    XChaCha20Poly1305,
    /// AES-SIV (RFC 5297) with a 512-bit key: deterministic.
    Aes256Siv,
}

impl Algorithm {
    /// Every algorithm, in envelope-id order.
    pub const ALL: [Algorithm; 3] = [
        Algorithm::Aes256Gcm,
        Algorithm::XChaCha20Poly1305,
        Algorithm::Aes256Siv,
    ];

    /// The byte that names the algorithm in envelopes and sealed records.
    pub fn id(self) -> u8 {
        match self {
            Algorithm::Aes256Gcm => 1,
            Algorithm::XChaCha20Poly1305 => 2,
            Algorithm::Aes256Siv => 3,
        }
    }

    /// The algorithm named by an envelope byte.
    pub fn from_id(id: u8) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.id() == id)
    }

    /// The name used in the HTTP API and the database.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Aes256Gcm => "aes-256-gcm",
            Algorithm::XChaCha20Poly1305 => "xchacha20-poly1305",
            Algorithm::Aes256Siv => "aes-256-siv",
        }
    }

    /// The algorithm with this API name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Algorithm::Aes256Gcm | Algorithm::XChaCha20Poly1305 => 32,
            Algorithm::Aes256Siv => 64,
        }
    }

    /// Nonce length in bytes inside an envelope (0 for the deterministic mode).
    pub fn nonce_len(self) -> usize {
        match self {
            Algorithm::Aes256Gcm => 12,
            Algorithm::XChaCha20Poly1305 => 24,
            Algorithm::Aes256Siv => 0,
        }
    }
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Encrypts and decrypts; one per lineage.
    Active,
    /// Decrypts only.
    Retired,
    /// Refuses every use.
    Disabled,
    /// Material erased.
    Destroyed,
}

impl KeyState {
    /// Every state.
    pub const ALL: [KeyState; 4] = [
        KeyState::Active,
        KeyState::Retired,
        KeyState::Disabled,
        KeyState::Destroyed,
    ];

    /// The name used in the HTTP API and the database.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Disabled => "disabled",
            KeyState::Destroyed => "destroyed",
        }
    }

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<KeyState> {
        KeyState::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A key as the store keeps it: metadata plus sealed material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's own id.
    pub id: Uuid,
    /// The id shared by every version.
    pub lineage_id: Uuid,
    /// Version within the lineage, from 1.
    pub version: u32,
    /// The key this one replaced.
    pub parent_id: Option<Uuid>,
    /// The key's algorithm.
    pub algorithm: Algorithm,
    /// The key's state.
    pub state: KeyState,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Key material sealed under the master key (ciphertext only, safe to print).
    pub sealed: Vec<u8>,
    /// Fingerprint of the master key that sealed `sealed`.
    pub seal_key_id: String,
}

/// Which records to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only this lineage.
    pub lineage_id: Option<Uuid>,
    /// Only this state.
    pub state: Option<KeyState>,
    /// Only ids after this one.
    pub after: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// One page of records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPage {
    /// The records, ordered by id.
    pub records: Vec<KeyRecord>,
    /// Cursor for the next page.
    pub next: Option<Uuid>,
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the trail, assigned by the store.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// What happened (`created`, `rotated`, ...).
    pub action: String,
    /// The key acted on.
    pub key_id: Option<Uuid>,
    /// Its lineage.
    pub lineage_id: Option<Uuid>,
    /// Who asked.
    pub actor: String,
    /// `success` or an error code.
    pub outcome: String,
}

/// Which audit events to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this key.
    pub key_id: Option<Uuid>,
    /// Only this lineage.
    pub lineage_id: Option<Uuid>,
    /// Only after this sequence number.
    pub after: Option<u64>,
    /// At most this many.
    pub limit: u32,
}

/// Parse a key id given by a caller.
pub fn parse_key_id(text: &str) -> Result<Uuid, crate::error::KmsError> {
    Uuid::try_parse(text)
        .map_err(|_| crate::error::KmsError::InvalidInput("key id must be a UUID".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_ids_and_names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_id(alg.id()), Some(alg));
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(Algorithm::from_id(0), None);
        assert_eq!(Algorithm::from_name("AES-256-GCM"), None);
    }

    #[test]
    fn key_state_names_round_trip() {
        for state in KeyState::ALL {
            assert_eq!(KeyState::from_name(state.name()), Some(state));
        }
        assert_eq!(KeyState::from_name("gone"), None);
    }
}
