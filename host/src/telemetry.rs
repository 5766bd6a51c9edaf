//! Logging. JSON lines on standard output through `tracing`, filtered by
//! `RUST_LOG` (default `info`).
//!
//! The logging contract: key ids, lineage ids, routes, statuses, timings
//! and error descriptions are logged. Key material, master keys, plaintext,
//! associated data, envelopes, request bodies and database passwords are
//! never logged; the component's own lines follow the same rule.

use tracing_subscriber::EnvFilter;

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

/// Turn the component's `LEVEL message` lines into events with target `qimem`.
pub fn forward_component_log(output: &[u8]) {
    for line in String::from_utf8_lossy(output).lines() {
        let (level, message) = line.split_once(' ').unwrap_or(("INFO", line));
        match level {
            "ERROR" => tracing::error!(target: "qimem", "{message}"),
            "WARN" => tracing::warn!(target: "qimem", "{message}"),
            "INFO" => tracing::info!(target: "qimem", "{message}"),
            _ => tracing::info!(target: "qimem", "{line}"),
        }
    }
}
