//! The per-request half of access control: refusal responses, the lineage
//! restriction of a token, and the data-plane audit trail.

use serde_json::Value;
use uuid::Uuid;

use super::api::Response;
use crate::auth::{Caller, Refusal};
use crate::envelope;
use crate::error::KmsError;
use crate::model::{AuditEvent, parse_key_id};
use crate::ops::Kms;
use crate::store::Store;

/// The response for a refused request. The body never says whether the
/// token was missing, unknown or short of a scope beyond 401 versus 403.
pub fn refusal(refusal: &Refusal) -> Response {
    match refusal {
        Refusal::Unauthenticated => {
            Response::plain_error(401, "unauthorized", "a valid bearer token is required")
        }
        Refusal::Forbidden(_) => forbidden(),
    }
}

/// The 403 response.
pub fn forbidden() -> Response {
    Response::plain_error(403, "forbidden", "this token may not do that")
}

/// Whether `caller` may run this route on the lineages it touches.
///
/// A token restricted to some lineages may use keys of those lineages
/// only; it may list keys or read the audit trail only when the query
/// names one of them, and may not create keys (a new lineage) or run a
/// route whose lineage cannot be told before it runs.
pub fn lineage_allowed<S: Store + ?Sized>(
    kms: &Kms<'_, S>,
    caller: &Caller,
    method: &str,
    segments: &[&str],
    query: &str,
    body: &[u8],
) -> bool {
    if caller.lineages.is_none() {
        return true;
    }
    let named = match named_key(method, segments, query, body) {
        Named::Key(id) => id,
        // A malformed envelope touches no lineage; the operation itself
        // reports it.
        Named::Unreadable => return true,
        Named::Unknown => return false,
    };
    let Ok(id) = parse_key_id(&named) else {
        return false;
    };
    caller.may_touch(lineage_of(kms, id))
}

/// What key a request names.
enum Named {
    /// This key or lineage id (as sent).
    Key(String),
    /// An envelope that does not parse: no key.
    Unreadable,
    /// Nothing this module can tell.
    Unknown,
}

/// The key (or lineage) id a request names in its path, query or body.
fn named_key(method: &str, segments: &[&str], query: &str, body: &[u8]) -> Named {
    let body_field = |names: &[&str]| -> Option<String> {
        let value: Value = serde_json::from_slice(body).ok()?;
        names
            .iter()
            .find_map(|n| value.get(*n)?.as_str().map(str::to_string))
    };
    let query_lineage = || {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "lineage_id" || k == "key_id")
            .map(|(_, v)| v.into_owned())
    };
    let named = match (method, segments) {
        ("GET" | "HEAD", ["keys" | "audit"]) => query_lineage(),
        (_, ["keys", id, ..]) => Some(id.to_string()),
        (_, ["encrypt" | "rotate" | "data-key"] | ["data-key", "wrapped"]) => {
            body_field(&["key_id"])
        }
        (_, ["decrypt" | "rewrap"]) => {
            let bytes =
                body_field(&["input", "envelope"]).and_then(|t| super::json::b64("input", &t).ok());
            match bytes.as_deref().map(envelope::parse) {
                Some(Ok(parsed)) => Some(parsed.key_id.to_string()),
                _ => return Named::Unreadable,
            }
        }
        // TODO: batch routes name one key per item; until every item is
        // checked, lineage-restricted tokens are refused them (import makes
        // a new lineage, which such a token may never do).
        _ => None,
    };
    named.map_or(Named::Unknown, Named::Key)
}

/// The lineage of a key id, or the id itself when no key has it (it may
/// name a lineage, or nothing at all).
fn lineage_of<S: Store + ?Sized>(kms: &Kms<'_, S>, id: Uuid) -> Uuid {
    kms.get(id).map_or(id, |r| r.lineage_id)
}

/// Record a data-plane operation (`encrypted`, `decrypted`, `rewrapped`) in the
/// audit trail, success or failure. A failure to record is logged only.
pub fn audit_data_plane<S: Store + ?Sized>(
    kms: &Kms<'_, S>,
    action: &str,
    request: (&[&str], &[u8]),
    result: &Result<Response, KmsError>,
) {
    let requested = match named_key("POST", request.0, "", request.1) {
        Named::Key(k) => parse_key_id(&k).ok(),
        _ => None,
    };
    let key_id = match result {
        Ok(resp) => resp.body["key_id"]
            .as_str()
            .and_then(|k| Uuid::try_parse(k).ok()),
        Err(_) => None,
    }
    .or(requested);
    let lineage_id = key_id.map(|k| lineage_of(kms, k));
    let outcome = match result {
        Ok(_) => "success".to_string(),
        Err(e) => format!("failure: {}", super::json::status_and_code(e).1),
    };
    let event = AuditEvent {
        seq: 0,
        at: now_ms(),
        action: action.to_string(),
        key_id,
        lineage_id,
        actor: kms.actor().to_string(),
        outcome,
    };
    if let Err(e) = kms.store().append_audit(&event) {
        crate::log::error(format_args!("audit event {action} not recorded: {e:?}"));
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
