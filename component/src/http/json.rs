//! JSON bodies of the HTTP API, and how keys and errors are rendered.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

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
#[derive(Debug, Deserialize)]
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

/// Decode standard base64 from a named field.
pub fn b64(field: &str, text: &str) -> Result<Vec<u8>, KmsError> {
    STANDARD
        .decode(text)
        .map_err(|_| KmsError::InvalidInput(format!("{field} is not valid base64")))
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

/// The JSON error body: `{"error": {"code", "message"}}`, plus the current
/// key of the lineage on conflicts.
pub fn error_body(code: &str, message: &str, current_key_id: Option<String>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(current) = current_key_id {
        error["current_key_id"] = Value::String(current);
    }
    json!({ "error": error })
}
