//! Configuration read through `wasi:config/store`: Spin variables under
//! Spin, the environment under the native host. Names are valid Spin
//! variable names.
//!
//! | key                   | meaning                                        |
//! |-----------------------|------------------------------------------------|
//! | `master_key`          | 32 bytes, base64 or hex; required              |
//! | `master_key_previous` | the master key before the last master rotation |
//! | `max_body_bytes`      | largest request body, default 1 MiB            |
//! | `auth_tokens`         | JSON token table (see [`crate::auth`]); unset: open |
//! | `audit_data_plane`    | `true`: audit every encrypt/decrypt/rewrap     |

use crate::auth::Access;
use crate::error::KmsError;
use crate::seal::{MasterKey, MasterKeys};

/// Largest request body when `max_body_bytes` is not set.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// What one request is configured with.
pub struct Settings {
    /// The master keys, or why they could not be loaded.
    pub keys: Result<MasterKeys, KmsError>,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Who may do what, or why the token table could not be read (then
    /// every protected route fails closed).
    pub access: Result<Access, KmsError>,
    /// Whether data-plane operations are written to the audit trail.
    pub audit_data_plane: bool,
}

impl Settings {
    /// Read the settings through `lookup`, which answers a key with its value.
    pub fn load(lookup: impl Fn(&str) -> Result<Option<String>, String>) -> Settings {
        let read = |name: &str| {
            lookup(name)
                .map_err(|e| KmsError::Internal(format!("configuration {name} unreadable: {e}")))
        };
        let keys = read("master_key").and_then(|current| {
            let current =
                current.ok_or_else(|| KmsError::Internal("master_key is not configured".into()))?;
            let previous = read("master_key_previous")?
                .filter(|p| !p.trim().is_empty())
                .map(|p| MasterKey::parse(&p))
                .transpose()
                .map_err(|_| KmsError::Internal("master_key_previous is not a valid key".into()))?;
            let current = MasterKey::parse(&current)
                .map_err(|_| KmsError::Internal("master_key is not a valid key".into()))?;
            Ok(MasterKeys::new(current, previous))
        });
        let max_body_bytes = read("max_body_bytes")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_BODY);
        let access = read("auth_tokens").and_then(|text| match text {
            Some(text) if !text.trim().is_empty() => Access::parse(&text),
            _ => Ok(Access::default()),
        });
        let audit_data_plane = read("audit_data_plane")
            .ok()
            .flatten()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Settings {
            keys,
            max_body_bytes,
            access,
            audit_data_plane,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_bad_master_keys_are_reported_without_their_text() {
        let none = Settings::load(|_| Ok(None));
        assert!(
            none.keys
                .err()
                .unwrap()
                .to_string()
                .contains("not configured")
        );
        assert_eq!(none.max_body_bytes, DEFAULT_MAX_BODY);

        let bad = Settings::load(|k| Ok((k == "master_key").then(|| "secretish".to_string())));
        let msg = bad.keys.err().unwrap().to_string();
        assert!(msg.contains("not a valid key") && !msg.contains("secretish"));
    }

    #[test]
    fn a_good_key_and_a_body_limit_load() {
        let s = Settings::load(|k| {
            Ok(match k {
                "master_key" => Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
                "max_body_bytes" => Some("2048".into()),
                _ => None,
            })
        });
        assert!(s.keys.is_ok());
        assert_eq!(s.max_body_bytes, 2048);
    }
}
