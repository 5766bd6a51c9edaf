//! Logging. JSON lines on standard output through `tracing`, filtered by
//! `RUST_LOG` (default `info`).
//!
//! The logging contract: key ids, lineage ids, routes, statuses, timings
//! and error descriptions are logged. Key material, master keys, plaintext,
//! associated data, envelopes, request bodies and database passwords are
//! never logged; the component's own lines follow the same rule. Bearer
//! tokens are never logged either: a refused request is logged with its
//! route, peer address and request id, and the component names the token.
//!
//! Every line logged while serving a request carries its `request_id`
//! (taken from `X-Request-Id` when it is sane, generated otherwise, and
//! echoed in the response), the component's forwarded lines included.

use hyper::header::{HeaderMap, HeaderValue};
use tracing_subscriber::EnvFilter;

/// The request-id header, accepted from the caller and echoed.
pub const REQUEST_ID: &str = "x-request-id";

/// Install the JSON subscriber. Fails on a malformed `RUST_LOG`.
pub fn init() -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).map_err(|e| format!("RUST_LOG is not a valid filter: {e}"))?
        }
        _ => EnvFilter::new("info"),
    };
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(false)
        .init();
    Ok(())
}

/// Turn the component's `LEVEL message` lines into events with target
/// `qimem`, each with the request's id.
pub fn forward_component_log(output: &[u8], request_id: &str) {
    for line in String::from_utf8_lossy(output).lines() {
        let (level, message) = line.split_once(' ').unwrap_or(("INFO", line));
        match level {
            "ERROR" => tracing::error!(target: "qimem", request_id, "{message}"),
            "WARN" => tracing::warn!(target: "qimem", request_id, "{message}"),
            "INFO" => tracing::info!(target: "qimem", request_id, "{message}"),
            _ => tracing::info!(target: "qimem", request_id, "{line}"),
        }
    }
}

/// The caller's request id if it is sane (1 to 128 visible ASCII letters,
/// digits and `-_.:`), or a fresh random one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    let sane = headers.get(REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    match sane {
        Some(v) => v.clone(),
        None => {
            let mut bytes = [0u8; 16];
            // Without randomness the id still has to be unique enough to
            // follow a request; fall back to the time.
            if getrandom::fill(&mut bytes).is_err() {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                bytes = nanos.to_le_bytes();
            }
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            HeaderValue::from_str(&id.to_string()).expect("a uuid is a valid header value")
        }
    }
}

/// The request id the server put on a request (empty if none).
pub fn request_id_of(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
