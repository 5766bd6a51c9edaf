//! A component that exports `wasi:config/store` from environment variables,
//! so that a composition of QIMEM needs only standard WASI imports: the
//! environment comes through `wasi:cli/environment` (e.g.
//! `wasmtime run --env QIMEM_MASTER_KEY=...`).
//!
//! Configuration key `name` is read from the variable `QIMEM_NAME` (upper
//! case), the same variables the native host reads. Names that are not
//! valid configuration names (lowercase letters, digits and underscores,
//! starting with a letter) are never set.
//!
//! When `QIMEM_MASTER_KEY` is not set, `master_key` is a random key made
//! once per instance, like the native host in stateless mode: fine with the
//! memory store, whose records die with the instance too, but a store that
//! outlives the instance needs a configured master key, or its records can
//! never be opened again. A warning on stderr says so when it happens.
//!
//! Logs carry names only, never values.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::sync::OnceLock;

use zeroize::Zeroizing;

/// Bindings generated from `wit/` for the `env-config` world.
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "env-config",
    });

    // Exported symbols only exist in the WebAssembly build.
    #[cfg(target_arch = "wasm32")]
    use crate::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component with_types_in crate::bindings);
}

use crate::bindings::exports::wasi::config::store as wconfig;

/// Prefix of the environment variables read.
pub const PREFIX: &str = "QIMEM_";

/// The configuration key that falls back to a random value.
const MASTER_KEY: &str = "master_key";

/// This instance's random master key, once one was needed.
static RANDOM_MASTER_KEY: OnceLock<Result<Zeroizing<String>, String>> = OnceLock::new();

/// The component's exported implementation.
struct Component;

impl wconfig::Guest for Component {
    fn get(key: String) -> Result<Option<String>, wconfig::Error> {
        let env = |name: &str| std::env::var(name).ok();
        lookup(&key, env, random_master_key).map_err(wconfig::Error::Io)
    }

    fn get_all() -> Result<Vec<(String, String)>, wconfig::Error> {
        let mut all: Vec<(String, String)> = std::env::vars()
            .filter_map(|(name, value)| Some((config_name(&name)?, value)))
            .collect();
        if !all.iter().any(|(name, _)| name == MASTER_KEY) {
            let random = random_master_key().map_err(wconfig::Error::Io)?;
            all.push((MASTER_KEY.into(), random));
        }
        all.sort();
        Ok(all)
    }
}

/// The value of configuration key `key`: the variable [`PREFIX`]`KEY` as
/// `env` answers it, or for `master_key` alone, `random()`.
pub fn lookup(
    key: &str,
    env: impl Fn(&str) -> Option<String>,
    random: impl FnOnce() -> Result<String, String>,
) -> Result<Option<String>, String> {
    if !is_config_name(key) {
        return Ok(None);
    }
    match env(&variable_name(key)) {
        Some(value) => Ok(Some(value)),
        None if key == MASTER_KEY => random().map(Some),
        None => Ok(None),
    }
}

/// The environment variable that holds configuration key `key`.
pub fn variable_name(key: &str) -> String {
    format!("{PREFIX}{}", key.to_ascii_uppercase())
}

/// The configuration key held by environment variable `name`, if any.
fn config_name(name: &str) -> Option<String> {
    let key = name.strip_prefix(PREFIX)?.to_ascii_lowercase();
    is_config_name(&key).then_some(key)
}

/// Lowercase letters, digits and underscores, starting with a letter.
fn is_config_name(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// 32 random bytes in hex, the same for the whole life of the instance.
fn random_master_key() -> Result<String, String> {
    let key = RANDOM_MASTER_KEY.get_or_init(|| {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| format!("no randomness: {e}"))?;
        eprintln!(
            "WARN {} is not set: using a random master key for this instance; \
             sealed records will not outlive it",
            variable_name(MASTER_KEY)
        );
        Ok(Zeroizing::new(hex::encode(bytes.as_ref())))
    });
    key.as_ref().map(|k| k.to_string()).map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_random() -> Result<String, String> {
        Err("random key not expected".into())
    }

    #[test]
    fn a_key_is_read_from_its_prefixed_upper_case_variable() {
        let env = |name: &str| (name == "QIMEM_MAX_BODY_BYTES").then(|| "2048".to_string());
        assert_eq!(
            lookup("max_body_bytes", env, no_random),
            Ok(Some("2048".into()))
        );
        assert_eq!(lookup("master_key_previous", env, no_random), Ok(None));
    }

    #[test]
    fn names_that_are_not_configuration_names_are_never_set() {
        let env = |_: &str| Some("x".to_string());
        for key in ["", "Master_key", "1key", "master-key", "master key"] {
            assert_eq!(lookup(key, env, no_random), Ok(None), "{key:?}");
        }
        assert_eq!(config_name("QIMEM_MASTER_KEY"), Some("master_key".into()));
        assert_eq!(config_name("QIMEM_"), None);
        assert_eq!(config_name("HOME"), None);
    }

    #[test]
    fn a_configured_master_key_wins_over_a_random_one() {
        let env = |name: &str| (name == "QIMEM_MASTER_KEY").then(|| "configured".to_string());
        assert_eq!(
            lookup("master_key", env, no_random),
            Ok(Some("configured".into()))
        );
    }

    #[test]
    fn an_unset_master_key_is_random_and_stable_for_the_instance() {
        let first = lookup("master_key", |_| None, random_master_key).unwrap();
        let second = lookup("master_key", |_| None, random_master_key).unwrap();
        let first = first.unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(Some(first), second);
    }
}
