//! The component's log: one line per event on standard error, `LEVEL message`.
//!
//! The native host turns each line into a `tracing` event; Spin and the
//! wasmtime CLI pass standard error through. What is logged: key ids,
//! lineage ids, algorithm names, operation names. What never is: key
//! material, master keys, plaintext, associated data, envelopes, tokens.

use std::fmt;
use std::io::Write as _;

/// Log an informational event.
pub fn info(message: fmt::Arguments<'_>) {
    emit("INFO", message);
}

/// Log a warning.
pub fn warn(message: fmt::Arguments<'_>) {
    emit("WARN", message);
}

/// Log an error.
pub fn error(message: fmt::Arguments<'_>) {
    emit("ERROR", message);
}

fn emit(level: &str, message: fmt::Arguments<'_>) {
    // A failed log write must never fail the operation that logs.
    let _ = writeln!(std::io::stderr().lock(), "{level} {message}");
}
