//! The one error type of the key logic. Messages never carry key material.

use std::fmt;

use uuid::Uuid;

/// Why a key operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmsError {
    /// No key has that id.
    NotFound(String),
    /// The request is malformed or out of range.
    InvalidInput(String),
    /// The request clashes with the lineage state; names the current key.
    Conflict {
        /// What clashed.
        message: String,
        /// The lineage's active key, if any.
        current_key_id: Option<Uuid>,
    },
    /// The key's state forbids this use.
    KeyNotUsable(String),
    /// The key was destroyed: its material is gone for good.
    KeyDestroyed(Uuid),
    /// The envelope could not be opened; deliberately nothing more.
    DecryptionFailed,
    /// The caller may not do this.
    Unauthorized(String),
    /// The store could not be reached.
    StorageUnavailable(String),
    /// A fault inside QIMEM.
    Internal(String),
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KmsError::NotFound(m)
            | KmsError::InvalidInput(m)
            | KmsError::KeyNotUsable(m)
            | KmsError::Unauthorized(m)
            | KmsError::StorageUnavailable(m)
            | KmsError::Internal(m) => f.write_str(m),
            KmsError::Conflict { message, .. } => f.write_str(message),
            KmsError::DecryptionFailed => f.write_str("decryption failed"),
            KmsError::KeyDestroyed(id) => write!(
                f,
                "key {id} is destroyed: its material is erased and its envelopes cannot be opened"
            ),
        }
    }
}

impl std::error::Error for KmsError {}

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The record exists already, or the key to rotate is no longer active.
    Conflict(Option<Uuid>),
    /// The record to change does not exist.
    NotFound,
    /// The store is unreachable or timed out.
    Unavailable(String),
    /// Any other store fault.
    Internal(String),
}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> KmsError {
        match e {
            StoreError::Conflict(current_key_id) => KmsError::Conflict {
                message: "the lineage changed concurrently".into(),
                current_key_id,
            },
            StoreError::NotFound => KmsError::NotFound("key not found".into()),
            StoreError::Unavailable(m) => KmsError::StorageUnavailable(m),
            StoreError::Internal(m) => KmsError::Internal(format!("key store failed: {m}")),
        }
    }
}
