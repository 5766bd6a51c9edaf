//! An application component that uses QIMEM's typed API, `qimem:kms/keys`.
//!
//! It creates a key, encrypts a message, rotates the key, opens the old
//! envelope with the retired key, encrypts under the new one, and shows that
//! other associated data cannot open an envelope, printing every step. The
//! message is the first argument (a default one otherwise).
//!
//! Built alone it only imports `qimem:kms/keys`; the `qimem-compose` crate
//! plugs in the QIMEM component, a memory store and an environment-backed
//! configuration, which gives one component that any WASI runtime can run:
//! `wasmtime run qimem-compose-example.wasm "my message"`.
//!
//! It exits with status 1, naming the failed step, when QIMEM refuses an
//! operation or any result is not the expected one.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::process::ExitCode;

use crate::bindings::qimem::kms::keys;
use crate::bindings::qimem::kms::types::{Error, KeyInfo, KeyState, Label};

/// Bindings for the `app` world: QIMEM's WIT package and this app's world.
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "example:compose/app",
        generate_all,
    });
}

/// Associated data bound to every envelope the example makes.
const AAD: &[u8] = b"example:compose";

/// The message encrypted when no argument is given.
const DEFAULT_MESSAGE: &str = "the launch code is 0000";

fn main() -> ExitCode {
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_MESSAGE.to_string());
    match round_trip(&message) {
        Ok(()) => {
            println!("round trip complete");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("failed: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// Every step, printed as it succeeds.
fn round_trip(message: &str) -> Result<(), String> {
    let options = keys::CreateOptions {
        algorithm: None,
        labels: vec![Label {
            name: "app".into(),
            value: "compose-example".into(),
        }],
    };
    let first = keys::create(&options).map_err(|e| failed("create", &e))?;
    println!("created key {}", describe(&first));

    let envelope =
        keys::encrypt(&first.id, message.as_bytes(), AAD).map_err(|e| failed("encrypt", &e))?;
    println!(
        "encrypted {} bytes with key {}: envelope of {} bytes",
        message.len(),
        first.id,
        envelope.len()
    );

    let second = keys::rotate(&first.id).map_err(|e| failed("rotate", &e))?;
    println!("rotated key {} to key {}", first.id, describe(&second));
    if second.lineage_id != first.lineage_id || second.parent_id.as_ref() != Some(&first.id) {
        return Err("the new key is not the successor of the first".into());
    }
    let retired = keys::get(&first.id).map_err(|e| failed("get", &e))?;
    println!("key {} is now {}", retired.id, state_name(retired.state));

    let rewrapped = keys::rewrap(&envelope, AAD).map_err(|e| failed("rewrap", &e))?;
    println!(
        "rewrapped the envelope from key {} to key {}",
        rewrapped.previous_key_id, rewrapped.key_id
    );
    if rewrapped.key_id != second.id {
        return Err("rewrap did not use the lineage's current key".into());
    }
    let reopened = keys::decrypt(&rewrapped.envelope, AAD).map_err(|e| failed("decrypt", &e))?;
    if reopened != message.as_bytes() {
        return Err("the rewrapped envelope did not give the message back".into());
    }

    let opened = keys::decrypt(&envelope, AAD).map_err(|e| failed("decrypt", &e))?;
    if opened != message.as_bytes() {
        return Err("decrypting the first envelope gave other bytes".into());
    }
    println!(
        "decrypted the version {} envelope: {}",
        first.version,
        String::from_utf8_lossy(&opened)
    );

    let newer = keys::encrypt(&first.lineage_id, message.as_bytes(), AAD)
        .map_err(|e| failed("encrypt by lineage", &e))?;
    let reopened = keys::decrypt(&newer, AAD).map_err(|e| failed("decrypt", &e))?;
    if reopened != message.as_bytes() || newer == envelope {
        return Err("encrypting under the lineage did not round-trip".into());
    }
    println!(
        "encrypted under lineage {} and decrypted it again",
        first.lineage_id
    );

    match keys::decrypt(&envelope, b"other associated data") {
        Err(Error::DecryptionFailed) => {
            println!("other associated data cannot open the envelope: decryption-failed");
            Ok(())
        }
        Err(other) => Err(failed("decrypt with other associated data", &other)),
        Ok(_) => Err("other associated data opened the envelope".into()),
    }
}

/// A key in one line: id, lineage, version, state.
fn describe(key: &KeyInfo) -> String {
    format!(
        "{} (lineage {}, version {}, {})",
        key.id,
        key.lineage_id,
        key.version,
        state_name(key.state)
    )
}

fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Active => "active",
        KeyState::Retired => "retired",
        KeyState::Disabled => "disabled",
        KeyState::Destroyed => "destroyed",
    }
}

/// Which step failed, and QIMEM's answer.
fn failed(step: &str, error: &Error) -> String {
    let answer = match error {
        Error::NotFound(m) => format!("not-found: {m}"),
        Error::InvalidInput(m) => format!("invalid-input: {m}"),
        Error::Conflict(c) => format!("conflict: {}", c.message),
        Error::KeyNotUsable(m) => format!("key-not-usable: {m}"),
        Error::DecryptionFailed => "decryption-failed".to_string(),
        Error::KeyDestroyed(id) => format!("key-destroyed: {id}"),
        Error::Unauthorized(m) => format!("unauthorized: {m}"),
        Error::StorageUnavailable(m) => format!("storage-unavailable: {m}"),
        Error::Internal(m) => format!("internal: {m}"),
    };
    format!("{step}: {answer}")
}
