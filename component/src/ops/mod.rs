//! The key operations, one module each, over any [`Store`].

mod batch;
mod create;
mod datakey;
mod decrypt;
mod encrypt;
mod import;
mod lifecycle;
mod read;
mod rewrap;
mod rotate;

pub use self::batch::{MAX_BATCH_ITEMS, check_batch_len, run as run_batch};
pub use self::datakey::{DATA_KEY_LEN, DataKey};
pub use self::lifecycle::DestroyOptions;
pub use self::read::MAX_PAGE;
pub use self::rewrap::Rewrapped;

use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

pub use self::create::CreateOptions;
use crate::error::KmsError;
use crate::model::{AuditEvent, KeyRecord, KeyState};
use crate::seal::MasterKeys;
use crate::secret::fill_random;
use crate::store::Store;

/// The actor recorded when no caller identity is known.
pub const ANONYMOUS: &str = "anonymous";

/// The key logic bound to one store and one set of master keys.
pub struct Kms<'a, S: Store + ?Sized> {
    store: &'a S,
    keys: &'a MasterKeys,
    actor: String,
}

impl<'a, S: Store + ?Sized> Kms<'a, S> {
    /// Key logic over `store`, sealing under `keys`.
    pub fn new(store: &'a S, keys: &'a MasterKeys) -> Self {
        Kms {
            store,
            keys,
            actor: ANONYMOUS.to_string(),
        }
    }

    /// The same key logic acting for `actor` (recorded in the audit trail).
    pub fn with_actor(mut self, actor: &str) -> Self {
        self.actor = actor.to_string();
        self
    }

    /// Who the operations are recorded as.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Record a lifecycle event. The operation has already taken effect, so
    /// a failure to record it is logged, not returned.
    fn audit(&self, action: &str, record: &KeyRecord) {
        let event = AuditEvent {
            seq: 0,
            at: now_ms(),
            action: action.to_string(),
            key_id: Some(record.id),
            lineage_id: Some(record.lineage_id),
            actor: self.actor.clone(),
            outcome: "success".to_string(),
        };
        if let Err(e) = self.store.append_audit(&event) {
            crate::log::error(format_args!(
                "audit event {action} for key_id={} not recorded: {e:?}",
                record.id
            ));
        }
    }

    /// The store, for health checks.
    pub fn store(&self) -> &S {
        self.store
    }

    /// The record with this id, or `NotFound`.
    fn record(&self, id: Uuid) -> Result<KeyRecord, KmsError> {
        self.store
            .get(id)?
            .ok_or_else(|| KmsError::NotFound(format!("key {id} not found")))
    }

    /// The conflict error for using a key that is no longer active.
    fn not_active(&self, record: &KeyRecord, what: &str) -> KmsError {
        let current = self
            .store
            .active(record.lineage_id)
            .ok()
            .flatten()
            .map(|r| r.id);
        let tail = match current {
            Some(c) => format!("; the current key of its lineage is {c}"),
            None => String::new(),
        };
        KmsError::Conflict {
            message: format!("key {} is {}, {what}{tail}", record.id, record.state.name()),
            current_key_id: current,
        }
    }
}

/// Refuse a key whose state forbids any use: a disabled key until it is
/// enabled, a destroyed key for good.
fn ensure_usable(record: &KeyRecord) -> Result<(), KmsError> {
    match record.state {
        KeyState::Active | KeyState::Retired => Ok(()),
        KeyState::Disabled => Err(KmsError::KeyNotUsable(format!(
            "key {} is disabled; enable it to use it again",
            record.id
        ))),
        KeyState::Destroyed => Err(KmsError::KeyDestroyed(record.id)),
    }
}

/// The conflict for a lineage whose newest version is disabled or
/// destroyed, so that nothing can encrypt for it.
fn no_active_key(lineage_id: Uuid) -> KmsError {
    KmsError::Conflict {
        message: format!(
            "lineage {lineage_id} has no active key: its newest version is disabled or destroyed"
        ),
        current_key_id: None,
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A fresh time-ordered random id (UUID v7: 48-bit time, 74 random bits),
/// so that listing by id lists by creation time.
fn new_id(now: u64) -> Result<Uuid, KmsError> {
    let mut random = [0u8; 10];
    fill_random(&mut random)?;
    Ok(uuid::Builder::from_unix_timestamp_millis(now, &random).into_uuid())
}

#[cfg(test)]
pub(crate) mod testing {
    //! A KMS over a memory store with a fixed master key.

    use crate::seal::{MasterKey, MasterKeys};

    /// A fixed test master key.
    pub fn master_keys() -> MasterKeys {
        MasterKeys::new(
            MasterKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap(),
            None,
        )
    }
}
