//! The seam between the generated bindings and the plain Rust key logic:
//! the imported store as a [`Store`], configuration, and the typed
//! `qimem:kms/keys` export.

use uuid::Uuid;

use crate::Component;
use crate::bindings::exports::qimem::kms::keys as exported;
use crate::bindings::qimem::kms::{store as wstore, types as wt};
use crate::bindings::wasi::config::store as wconfig;
use crate::config::Settings;
use crate::error::{KmsError, StoreError};
use crate::model::{
    Algorithm, AuditEvent, AuditFilter, KeyRecord, KeyState, RecordFilter, parse_key_id,
};
use crate::ops::{CreateOptions, DestroyOptions, Kms, Rewrapped, run_batch};
use crate::secret::KeyMaterial;
use crate::store::Store;

/// The imported `qimem:kms/store`.
pub struct WitStore;

/// Settings from `wasi:config/store`.
pub fn settings() -> Settings {
    Settings::load(|key| {
        wconfig::get(key).map_err(|e| match e {
            wconfig::Error::Upstream(m) | wconfig::Error::Io(m) => m,
        })
    })
}

impl Store for WitStore {
    fn ping(&self) -> Result<(), StoreError> {
        wstore::ping().map_err(store_err)
    }

    fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        wstore::insert(&to_wit_record(record)).map_err(store_err)
    }

    fn get(&self, id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        wstore::get(&id.to_string())
            .map_err(store_err)?
            .map(from_wit_record)
            .transpose()
    }

    fn active(&self, lineage_id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        wstore::active(&lineage_id.to_string())
            .map_err(store_err)?
            .map(from_wit_record)
            .transpose()
    }

    fn list(&self, filter: &RecordFilter) -> Result<Vec<KeyRecord>, StoreError> {
        let filter = wstore::RecordFilter {
            lineage_id: filter.lineage_id.map(|l| l.to_string()),
            state: filter.state.map(to_wit_state),
            after: filter.after.map(|a| a.to_string()),
            limit: filter.limit,
        };
        wstore::list(&filter)
            .map_err(store_err)?
            .into_iter()
            .map(from_wit_record)
            .collect()
    }

    fn lineage(&self, lineage_id: Uuid) -> Result<Vec<KeyRecord>, StoreError> {
        wstore::lineage(&lineage_id.to_string())
            .map_err(store_err)?
            .into_iter()
            .map(from_wit_record)
            .collect()
    }

    fn rotate(&self, current: Uuid, successor: &KeyRecord) -> Result<(), StoreError> {
        wstore::rotate(&current.to_string(), &to_wit_record(successor)).map_err(store_err)
    }

    fn update_state(&self, id: Uuid, expected: KeyState, next: KeyState) -> Result<(), StoreError> {
        wstore::update_state(&id.to_string(), to_wit_state(expected), to_wit_state(next))
            .map_err(store_err)
    }

    fn destroy(&self, id: Uuid, expected: KeyState) -> Result<(), StoreError> {
        wstore::destroy(&id.to_string(), to_wit_state(expected)).map_err(store_err)
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = wstore::AuditEvent {
            seq: event.seq,
            at: event.at,
            action: event.action.clone(),
            key_id: event.key_id.map(|k| k.to_string()),
            lineage_id: event.lineage_id.map(|l| l.to_string()),
            actor: event.actor.clone(),
            outcome: event.outcome.clone(),
        };
        wstore::append_audit(&event).map_err(store_err)
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let filter = wstore::AuditFilter {
            key_id: filter.key_id.map(|k| k.to_string()),
            lineage_id: filter.lineage_id.map(|l| l.to_string()),
            after: filter.after,
            limit: filter.limit,
        };
        let id = |s: Option<String>| s.and_then(|s| Uuid::try_parse(&s).ok());
        Ok(wstore::audit(&filter)
            .map_err(store_err)?
            .into_iter()
            .map(|e| AuditEvent {
                seq: e.seq,
                at: e.at,
                action: e.action,
                key_id: id(e.key_id),
                lineage_id: id(e.lineage_id),
                actor: e.actor,
                outcome: e.outcome,
            })
            .collect())
    }
}

fn store_err(e: wstore::StoreError) -> StoreError {
    match e {
        wstore::StoreError::Conflict(current) => {
            StoreError::Conflict(current.and_then(|c| Uuid::try_parse(&c).ok()))
        }
        wstore::StoreError::NotFound => StoreError::NotFound,
        wstore::StoreError::Unavailable(m) => StoreError::Unavailable(m),
        wstore::StoreError::Internal(m) => StoreError::Internal(m),
    }
}

fn to_wit_alg(a: Algorithm) -> wt::Algorithm {
    match a {
        Algorithm::Aes256Gcm => wt::Algorithm::Aes256Gcm,
        Algorithm::XChaCha20Poly1305 => wt::Algorithm::Xchacha20Poly1305,
        Algorithm::Aes256Siv => wt::Algorithm::Aes256Siv,
    }
}

fn from_wit_alg(a: wt::Algorithm) -> Algorithm {
    match a {
        wt::Algorithm::Aes256Gcm => Algorithm::Aes256Gcm,
        wt::Algorithm::Xchacha20Poly1305 => Algorithm::XChaCha20Poly1305,
        wt::Algorithm::Aes256Siv => Algorithm::Aes256Siv,
    }
}

fn to_wit_state(s: KeyState) -> wt::KeyState {
    match s {
        KeyState::Active => wt::KeyState::Active,
        KeyState::Retired => wt::KeyState::Retired,
        KeyState::Disabled => wt::KeyState::Disabled,
        KeyState::Destroyed => wt::KeyState::Destroyed,
    }
}

fn from_wit_state(s: wt::KeyState) -> KeyState {
    match s {
        wt::KeyState::Active => KeyState::Active,
        wt::KeyState::Retired => KeyState::Retired,
        wt::KeyState::Disabled => KeyState::Disabled,
        wt::KeyState::Destroyed => KeyState::Destroyed,
    }
}

fn to_wit_labels(labels: &[(String, String)]) -> Vec<wt::Label> {
    labels
        .iter()
        .map(|(name, value)| wt::Label {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn to_wit_record(r: &KeyRecord) -> wstore::KeyRecord {
    wstore::KeyRecord {
        id: r.id.to_string(),
        lineage_id: r.lineage_id.to_string(),
        version: r.version,
        parent_id: r.parent_id.map(|p| p.to_string()),
        algorithm: to_wit_alg(r.algorithm),
        state: to_wit_state(r.state),
        created_at: r.created_at,
        labels: to_wit_labels(&r.labels),
        sealed_material: r.sealed.clone(),
        seal_key_id: r.seal_key_id.clone(),
    }
}

fn from_wit_record(r: wstore::KeyRecord) -> Result<KeyRecord, StoreError> {
    let id = |s: &str| {
        Uuid::try_parse(s).map_err(|_| StoreError::Internal("store returned a bad key id".into()))
    };
    Ok(KeyRecord {
        id: id(&r.id)?,
        lineage_id: id(&r.lineage_id)?,
        version: r.version,
        parent_id: r.parent_id.as_deref().map(id).transpose()?,
        algorithm: from_wit_alg(r.algorithm),
        state: from_wit_state(r.state),
        created_at: r.created_at,
        labels: r.labels.into_iter().map(|l| (l.name, l.value)).collect(),
        sealed: r.sealed_material,
        seal_key_id: r.seal_key_id,
    })
}

fn info(r: &KeyRecord) -> wt::KeyInfo {
    wt::KeyInfo {
        id: r.id.to_string(),
        lineage_id: r.lineage_id.to_string(),
        version: r.version,
        parent_id: r.parent_id.map(|p| p.to_string()),
        algorithm: to_wit_alg(r.algorithm),
        state: to_wit_state(r.state),
        created_at: r.created_at,
        labels: to_wit_labels(&r.labels),
    }
}

fn wit_error(e: KmsError) -> wt::Error {
    match e {
        KmsError::NotFound(m) => wt::Error::NotFound(m),
        KmsError::InvalidInput(m) => wt::Error::InvalidInput(m),
        KmsError::Conflict {
            message,
            current_key_id,
        } => wt::Error::Conflict(wt::Conflict {
            message,
            current_key_id: current_key_id.map(|c| c.to_string()),
        }),
        KmsError::KeyNotUsable(m) => wt::Error::KeyNotUsable(m),
        KmsError::KeyDestroyed(id) => wt::Error::KeyDestroyed(id.to_string()),
        KmsError::DecryptionFailed => wt::Error::DecryptionFailed,
        KmsError::Unauthorized(m) => wt::Error::Unauthorized(m),
        KmsError::StorageUnavailable(m) => wt::Error::StorageUnavailable(m),
        KmsError::Internal(m) => {
            crate::log::error(format_args!("typed call failed: {m}"));
            wt::Error::Internal("internal error".into())
        }
    }
}

/// Run `f` with the key logic over the imported store and configured keys.
fn with_kms<T>(f: impl FnOnce(&Kms<'_, WitStore>) -> Result<T, KmsError>) -> Result<T, wt::Error> {
    let settings = settings();
    let keys = settings.keys.map_err(wit_error)?;
    f(&Kms::new(&WitStore, &keys)).map_err(wit_error)
}

fn create_options(options: exported::CreateOptions) -> CreateOptions {
    CreateOptions {
        algorithm: options.algorithm.map(from_wit_alg),
        labels: options
            .labels
            .into_iter()
            .map(|l| (l.name, l.value))
            .collect(),
    }
}

fn rewrapped(r: Rewrapped) -> exported::Rewrapped {
    exported::Rewrapped {
        envelope: r.envelope,
        key_id: r.key.id.to_string(),
        previous_key_id: r.previous.id.to_string(),
    }
}

fn data_key(key: &str, aad: &[u8], with_plaintext: bool) -> Result<exported::DataKey, wt::Error> {
    with_kms(|kms| {
        let dk = kms.generate_data_key(parse_key_id(key)?, aad, with_plaintext)?;
        Ok(exported::DataKey {
            key_id: dk.key.id.to_string(),
            // The data key leaves the component here; the caller owns it.
            plaintext: dk.plaintext.as_ref().map(|p| p.expose().to_vec()),
            wrapped: dk.wrapped,
        })
    })
}

/// Per-item results of a typed batch: item errors stay with their item.
type Items<T> = Result<Vec<Result<T, wt::Error>>, wt::Error>;

fn items<T>(results: Vec<Result<T, KmsError>>) -> Vec<Result<T, wt::Error>> {
    results.into_iter().map(|r| r.map_err(wit_error)).collect()
}

impl exported::Guest for Component {
    fn create(options: exported::CreateOptions) -> Result<wt::KeyInfo, wt::Error> {
        let options = create_options(options);
        with_kms(|kms| kms.create(options).map(|r| info(&r)))
    }

    fn import_key(
        material: Vec<u8>,
        options: exported::CreateOptions,
    ) -> Result<wt::KeyInfo, wt::Error> {
        let material = KeyMaterial::from_bytes(zeroize::Zeroizing::new(material));
        let options = create_options(options);
        with_kms(|kms| kms.import(material, options).map(|r| info(&r)))
    }

    fn rewrap(envelope: Vec<u8>, aad: Vec<u8>) -> Result<exported::Rewrapped, wt::Error> {
        with_kms(|kms| kms.rewrap(&envelope, &aad).map(rewrapped))
    }

    fn generate_data_key(key: String, aad: Vec<u8>) -> Result<exported::DataKey, wt::Error> {
        data_key(&key, &aad, true)
    }

    fn generate_data_key_wrapped(
        key: String,
        aad: Vec<u8>,
    ) -> Result<exported::DataKey, wt::Error> {
        data_key(&key, &aad, false)
    }

    fn disable(id: String) -> Result<wt::KeyInfo, wt::Error> {
        with_kms(|kms| kms.disable(parse_key_id(&id)?).map(|r| info(&r)))
    }

    fn enable(id: String) -> Result<wt::KeyInfo, wt::Error> {
        with_kms(|kms| kms.enable(parse_key_id(&id)?).map(|r| info(&r)))
    }

    fn destroy(id: String, options: exported::DestroyOptions) -> Result<wt::KeyInfo, wt::Error> {
        let options = DestroyOptions {
            confirm: options.confirm,
            force: options.force,
        };
        with_kms(|kms| kms.destroy(parse_key_id(&id)?, &options).map(|r| info(&r)))
    }

    fn encrypt_batch(items_in: Vec<exported::EncryptItem>) -> Items<Vec<u8>> {
        with_kms(|kms| {
            let results = run_batch(items_in, |item| {
                let plaintext = zeroize::Zeroizing::new(item.plaintext);
                let key = parse_key_id(&item.key)?;
                kms.encrypt(key, &plaintext, &item.aad).map(|(env, _)| env)
            })?;
            Ok(items(results))
        })
    }

    fn decrypt_batch(items_in: Vec<exported::EnvelopeItem>) -> Items<Vec<u8>> {
        with_kms(|kms| {
            let results = run_batch(items_in, |item| {
                kms.decrypt(&item.envelope, &item.aad)
                    .map(|(plain, _)| plain.to_vec())
            })?;
            Ok(items(results))
        })
    }

    fn rewrap_batch(items_in: Vec<exported::EnvelopeItem>) -> Items<exported::Rewrapped> {
        with_kms(|kms| {
            let results = run_batch(items_in, |item| {
                kms.rewrap(&item.envelope, &item.aad).map(rewrapped)
            })?;
            Ok(items(results))
        })
    }

    fn get(id: String) -> Result<wt::KeyInfo, wt::Error> {
        with_kms(|kms| kms.get(parse_key_id(&id)?).map(|r| info(&r)))
    }

    fn list(options: exported::ListOptions) -> Result<exported::KeyPage, wt::Error> {
        with_kms(|kms| {
            let filter = RecordFilter {
                lineage_id: options
                    .lineage_id
                    .as_deref()
                    .map(parse_key_id)
                    .transpose()?,
                state: options.state.map(from_wit_state),
                after: options.after.as_deref().map(parse_key_id).transpose()?,
                limit: options.limit,
            };
            let page = kms.list(filter)?;
            Ok(exported::KeyPage {
                keys: page.records.iter().map(info).collect(),
                next: page.next.map(|n| n.to_string()),
            })
        })
    }

    fn lineage(lineage_id: String) -> Result<Vec<wt::KeyInfo>, wt::Error> {
        with_kms(|kms| {
            Ok(kms
                .lineage(parse_key_id(&lineage_id)?)?
                .iter()
                .map(info)
                .collect())
        })
    }

    fn encrypt(key: String, plaintext: Vec<u8>, aad: Vec<u8>) -> Result<Vec<u8>, wt::Error> {
        let plaintext = zeroize::Zeroizing::new(plaintext);
        with_kms(|kms| {
            kms.encrypt(parse_key_id(&key)?, &plaintext, &aad)
                .map(|(env, _)| env)
        })
    }

    fn decrypt(envelope: Vec<u8>, aad: Vec<u8>) -> Result<Vec<u8>, wt::Error> {
        // The plaintext leaves the component here, so it is handed over
        // as a plain vector; the caller owns it from now on.
        with_kms(|kms| {
            kms.decrypt(&envelope, &aad)
                .map(|(plain, _)| plain.to_vec())
        })
    }

    fn rotate(id: String) -> Result<wt::KeyInfo, wt::Error> {
        with_kms(|kms| kms.rotate(parse_key_id(&id)?).map(|r| info(&r)))
    }
}
