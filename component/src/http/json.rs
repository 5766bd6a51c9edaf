//! JSON bodies of the HTTP API, and how keys and errors are rendered.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::{Zeroize, Zeroizing};

use crate::error::KmsError;
use crate::model::{AuditEvent, KeyRecord};

/// `POST /keys`: every field optional; QIMEM 1.x clients send `{}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Algorithm name.
    pub algorithm: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `POST /encrypt`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptBody {
    /// Key id or lineage id.
    pub key_id: String,
    /// UTF-8 plaintext.
    pub input: Option<String>,
    /// Base64 plaintext, for binary data.
    pub input_b64: Option<String>,
    /// Base64 associated data.
    pub aad_b64: Option<String>,
}

/// `POST /decrypt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecryptBody {
    /// The envelope, base64.
    pub input: String,
    /// Base64 associated data.
    pub aad_b64: Option<String>,
    /// `"base64"` to always get `plaintext_b64`; `"text"` (default) gives
    /// `plaintext` when the bytes are UTF-8.
    pub output: Option<String>,
}

/// `POST /rotate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// The active key to rotate.
    pub key_id: String,
}

/// `POST /v1/keys/import`: the caller's key, base64. No `Debug`: the
/// material must never be printed, and it is zeroized on drop.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The key material, standard base64.
    pub material_b64: String,
    /// Algorithm name; AES-256-GCM when absent.
    pub algorithm: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Drop for ImportBody {
    fn drop(&mut self) {
        self.material_b64.zeroize();
    }
}

/// `POST /v1/keys/{id}/destroy`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyBody {
    /// The key id again, as confirmation.
    #[serde(default)]
    pub confirm: String,
    /// Destroy even the active key of a lineage.
    #[serde(default)]
    pub force: bool,
}

/// `POST /v1/rewrap`, and one item of `POST /v1/batch/rewrap`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewrapBody {
    /// The envelope, base64.
    pub input: String,
    /// Base64 associated data, bound again to the new envelope.
    pub aad_b64: Option<String>,
}

/// `POST /v1/data-key` and `POST /v1/data-key/wrapped`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataKeyBody {
    /// Key id or lineage id that wraps the data key.
    pub key_id: String,
    /// Base64 associated data for the wrapped data key.
    pub aad_b64: Option<String>,
}

/// `POST /v1/batch/*`: the items stay JSON values so that each one is
/// checked, and fails, on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// The items, in order.
    pub items: Vec<Value>,
}

/// Decode standard base64 from a named field.
pub fn b64(field: &str, text: &str) -> Result<Vec<u8>, KmsError> {
    STANDARD
        .decode(text)
        .map_err(|_| KmsError::InvalidInput(format!("{field} is not valid base64")))
}

/// Decode secret base64 (key material) into memory that is zeroized on
/// drop, also when decoding fails halfway.
pub fn b64_secret(field: &str, text: &str) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    // Reserve enough up front so that decoding never reallocates and
    // leaves a copy behind.
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 4 * 3 + 3));
    STANDARD
        .decode_vec(text, &mut out)
        .map_err(|_| KmsError::InvalidInput(format!("{field} is not valid base64")))?;
    Ok(out)
}

/// Encode as standard base64.
pub fn to_b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A key's metadata as the API shows it. Never material.
pub fn key(record: &KeyRecord) -> Value {
    let labels: serde_json::Map<String, Value> = record
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "key_id": record.id.to_string(),
        "lineage_id": record.lineage_id.to_string(),
        "version": record.version,
        "parent_id": record.parent_id.map(|p| p.to_string()),
        "state": record.state.name(),
        "algorithm": record.algorithm.name(),
        "created_at": rfc3339(record.created_at),
        "labels": labels,
    })
}

/// An audit event as the API shows it.
pub fn audit_event(event: &AuditEvent) -> Value {
    json!({
        "seq": event.seq,
        "at": rfc3339(event.at),
        "action": event.action,
        "key_id": event.key_id.map(|k| k.to_string()),
        "lineage_id": event.lineage_id.map(|l| l.to_string()),
        "actor": event.actor,
        "outcome": event.outcome,
    })
}

/// Milliseconds since the epoch as an RFC 3339 UTC timestamp.
pub fn rfc3339(ms: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// The HTTP status and error code for an error.
pub fn status_and_code(err: &KmsError) -> (u16, &'static str) {
    match err {
        KmsError::NotFound(_) => (404, "not_found"),
        KmsError::InvalidInput(_) => (400, "invalid_input"),
        KmsError::Conflict { .. } => (409, "conflict"),
        KmsError::KeyNotUsable(_) => (409, "key_not_usable"),
        KmsError::KeyDestroyed(_) => (410, "key_destroyed"),
        KmsError::DecryptionFailed => (422, "decryption_failed"),
        KmsError::Unauthorized(_) => (401, "unauthorized"),
        KmsError::StorageUnavailable(_) => (503, "storage_unavailable"),
        KmsError::Internal(_) => (500, "internal"),
    }
}

/// The `{"error": {...}}` object for `err`, as a single response or one
/// batch item shows it. Internal faults say only that one happened.
pub fn error_value(err: &KmsError) -> Value {
    let (_, code) = status_and_code(err);
    let current = match err {
        KmsError::Conflict { current_key_id, .. } => current_key_id.map(|c| c.to_string()),
        _ => None,
    };
    let message = match err {
        KmsError::Internal(_) => "internal error".to_string(),
        other => other.to_string(),
    };
    let mut body = error_body(code, &message, current);
    if let KmsError::KeyDestroyed(id) = err {
        body["error"]["key_id"] = Value::String(id.to_string());
    }
    body
}

/// The JSON error body: `{"error": {"code", "message"}}`, plus the current
/// key of the lineage on conflicts.
pub fn error_body(code: &str, message: &str, current_key_id: Option<String>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(current) = current_key_id {
        error["current_key_id"] = Value::String(current);
    }
    json!({ "error": error })
}
