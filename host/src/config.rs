//! Host configuration from the environment. A bad value is a clear error
//! (exit code 2), never a guess; errors name the variable, never a secret.
//!
//! Access control and the operator surface:
//!
//! | variable                  | meaning                                            |
//! |---------------------------|----------------------------------------------------|
//! | `QIMEM_AUTH_TOKENS[_FILE]`| JSON token table (`qimem hash-token --name ...`)   |
//! | `QIMEM_AUTH`              | `enabled` (default) or `disabled`                  |
//! | `QIMEM_AUDIT_DATA_PLANE`  | `true`: audit encrypt/decrypt/rewrap (batched)     |
//! | `QIMEM_METRICS_BIND`      | own address for `/metrics` (else the API address)  |
//!
//! Without tokens the API may listen on a loopback address only, unless
//! `QIMEM_AUTH=disabled` is set (and then every start logs a warning).

use std::env;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qimem_component::seal::MasterKey;
use zeroize::Zeroizing;

use crate::store::postgres::PgSettings;
use crate::store::tls::DbUrl;

/// Where keys live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// In this process's memory: gone on restart.
    Stateless,
    /// In PostgreSQL.
    Stateful,
}

/// Everything the host is configured with.
pub struct Config {
    /// Key storage mode.
    pub mode: Mode,
    /// Address the HTTP API listens on.
    pub bind: SocketAddr,
    /// The master key as the component reads it (base64 or hex text).
    pub master_key: Zeroizing<String>,
    /// Whether `master_key` was generated for this process.
    pub master_key_generated: bool,
    /// The previous master key, while records are resealed.
    pub master_key_previous: Option<Zeroizing<String>>,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Most component instances alive at once (concurrent requests).
    pub max_instances: u32,
    /// Where compiled component code is cached; wasmtime's default if unset.
    pub cache_dir: Option<PathBuf>,
    /// The PostgreSQL store (stateful mode only).
    pub database: Option<PgSettings>,
    /// Access control: the token table and how it was asked for.
    pub auth: AuthConfig,
    /// Whether encrypt/decrypt/rewrap are written to the audit trail.
    pub audit_data_plane: bool,
    /// A separate address for `GET /metrics`; on the API address if unset.
    pub metrics_bind: Option<SocketAddr>,
}

/// Access control as configured.
pub struct AuthConfig {
    /// The `auth_tokens` JSON for the component (hashes, never tokens);
    /// `None` when no token is configured.
    pub tokens: Option<String>,
    /// How many tokens are configured.
    pub token_count: usize,
    /// `QIMEM_AUTH=disabled`: no tokens, on purpose, on any address.
    pub disabled: bool,
}

/// A configuration problem, naming the variable at fault.
#[derive(Debug)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Read the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| env::var(name).ok())
    }

    /// Read the configuration through `get` (the environment, or a test map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mode = match get("QIMEM_MODE").as_deref().map(str::trim) {
            None | Some("") | Some("stateless") => Mode::Stateless,
            Some("stateful") => Mode::Stateful,
            Some(other) => {
                return Err(ConfigError(format!(
                    "QIMEM_MODE must be stateless or stateful, not {other:?}"
                )));
            }
        };
        let bind = match get("QIMEM_BIND") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(text) => text.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "QIMEM_BIND must be an address like 127.0.0.1:8080, not {text:?}"
                ))
            })?,
        };

        let (master_key, master_key_generated) = match master_key_text(&get, "QIMEM_MASTER_KEY")? {
            Some(key) => (key, false),
            None if mode == Mode::Stateless => (random_master_key()?, true),
            None => {
                return Err(ConfigError(
                    "QIMEM_MASTER_KEY (or QIMEM_MASTER_KEY_FILE) is required in stateful mode"
                        .into(),
                ));
            }
        };
        let master_key_previous = master_key_text(&get, "QIMEM_MASTER_KEY_PREVIOUS")?;

        let max_body_bytes = number(&get, "QIMEM_MAX_BODY_BYTES", 1024 * 1024, 1, 64 << 20)?;
        let max_instances = number(&get, "QIMEM_MAX_INSTANCES", 128, 1, 10_000)?;
        let cache_dir = get("QIMEM_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);

        let database = match mode {
            Mode::Stateless => None,
            Mode::Stateful => Some(database_settings(&get)?),
        };

        let auth = auth_config(&get, bind)?;
        let audit_data_plane = match get("QIMEM_AUDIT_DATA_PLANE").as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError(format!(
                    "QIMEM_AUDIT_DATA_PLANE must be true or false, not {other:?}"
                )));
            }
        };
        let metrics_bind = match get("QIMEM_METRICS_BIND").filter(|t| !t.trim().is_empty()) {
            None => None,
            Some(text) => Some(text.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "QIMEM_METRICS_BIND must be an address like 127.0.0.1:9090, not {text:?}"
                ))
            })?),
        };

        Ok(Config {
            database,
            auth,
            audit_data_plane,
            metrics_bind,
            mode,
            bind,
            master_key,
            master_key_generated,
            master_key_previous,
            max_body_bytes,
            max_instances: max_instances as u32,
            cache_dir,
        })
    }
}

/// The stateful store's settings: `DATABASE_URL` (required),
/// `QIMEM_DB_POOL_SIZE` (default 10), `QIMEM_DB_CONNECT_TIMEOUT_MS` and
/// `QIMEM_DB_STATEMENT_TIMEOUT_MS` (default 5000 each). Errors never
/// repeat the URL, which may carry a password.
pub fn database_settings(get: &impl Fn(&str) -> Option<String>) -> Result<PgSettings, ConfigError> {
    let url = get("DATABASE_URL")
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ConfigError("DATABASE_URL is required in stateful mode".into()))?;
    let url = DbUrl::parse(url.trim()).map_err(ConfigError)?;
    let pool_size = number(get, "QIMEM_DB_POOL_SIZE", 10, 1, 1000)?;
    let connect = number(get, "QIMEM_DB_CONNECT_TIMEOUT_MS", 5000, 100, 600_000)?;
    let statement = number(get, "QIMEM_DB_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000)?;
    Ok(PgSettings {
        url,
        pool_size,
        connect_timeout: std::time::Duration::from_millis(connect as u64),
        statement_timeout: std::time::Duration::from_millis(statement as u64),
    })
}

/// Access control from `QIMEM_AUTH` and `QIMEM_AUTH_TOKENS[_FILE]`.
///
/// The secure default: without tokens the API may only listen on a
/// loopback address, unless `QIMEM_AUTH=disabled` says so on purpose.
fn auth_config(
    get: &impl Fn(&str) -> Option<String>,
    bind: SocketAddr,
) -> Result<AuthConfig, ConfigError> {
    let disabled = match get("QIMEM_AUTH").as_deref().map(str::trim) {
        None | Some("") | Some("enabled") => false,
        Some("disabled") => true,
        Some(other) => {
            return Err(ConfigError(format!(
                "QIMEM_AUTH must be enabled or disabled, not {other:?}"
            )));
        }
    };
    let text = match (get("QIMEM_AUTH_TOKENS"), get("QIMEM_AUTH_TOKENS_FILE")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(
                "set QIMEM_AUTH_TOKENS or QIMEM_AUTH_TOKENS_FILE, not both".into(),
            ));
        }
        (Some(text), None) => Some(text),
        (None, Some(path)) => Some(std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!("QIMEM_AUTH_TOKENS_FILE: cannot read {path}: {e}"))
        })?),
        (None, None) => None,
    }
    .filter(|t| !t.trim().is_empty());
    let token_count = match &text {
        Some(text) => {
            let access = qimem_component::auth::Access::parse(text)
                .map_err(|e| ConfigError(format!("QIMEM_AUTH_TOKENS: {e}")))?;
            access.len()
        }
        None => 0,
    };
    let tokens = text.filter(|_| token_count > 0);
    if disabled && tokens.is_some() {
        return Err(ConfigError(
            "QIMEM_AUTH=disabled and QIMEM_AUTH_TOKENS are both set: choose one".into(),
        ));
    }
    if tokens.is_none() && !disabled && !bind.ip().is_loopback() {
        return Err(ConfigError(format!(
            "QIMEM_BIND={bind} is not a loopback address and no QIMEM_AUTH_TOKENS are \
             configured: configure tokens (see `qimem hash-token`) or set QIMEM_AUTH=disabled"
        )));
    }
    Ok(AuthConfig {
        tokens,
        token_count,
        disabled,
    })
}

/// A master key from `NAME` or from the file named by `NAME_FILE`,
/// checked to be 32 bytes. The error never repeats the value.
fn master_key_text(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Zeroizing<String>>, ConfigError> {
    let file_var = format!("{name}_FILE");
    let text = match (get(name), get(&file_var)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!("set {name} or {file_var}, not both")));
        }
        (Some(text), None) => Zeroizing::new(text),
        (None, Some(path)) => Zeroizing::new(
            std::fs::read_to_string(&path)
                .map_err(|e| ConfigError(format!("{file_var}: cannot read {path}: {e}")))?,
        ),
        (None, None) => return Ok(None),
    };
    let trimmed = Zeroizing::new(text.trim().to_string());
    if trimmed.is_empty() {
        return Ok(None);
    }
    MasterKey::parse(&trimmed).map_err(|_| {
        ConfigError(format!(
            "{name} must be 32 bytes as base64 or 64 hex digits (try `openssl rand -base64 32`)"
        ))
    })?;
    Ok(Some(trimmed))
}

/// A fresh random master key, base64.
pub fn random_master_key() -> Result<Zeroizing<String>, ConfigError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice())
        .map_err(|_| ConfigError("the system random source failed".into()))?;
    Ok(Zeroizing::new(STANDARD.encode(bytes.as_slice())))
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let Some(text) = get(name) else {
        return Ok(default as usize);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n as usize),
        _ => Err(ConfigError(format!(
            "{name} must be a whole number from {min} to {max}, not {text:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_stateless_on_loopback_with_a_generated_key() {
        let c = config(&[]).unwrap();
        assert_eq!(c.mode, Mode::Stateless);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert!(c.master_key_generated);
        assert!(MasterKey::parse(&c.master_key).is_ok());
        assert_eq!(c.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn bad_values_name_the_variable_but_not_the_secret() {
        let err = config(&[("QIMEM_MODE", "cloud")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("QIMEM_MODE"));
        let err = config(&[("QIMEM_BIND", "nowhere")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("QIMEM_BIND"));
        let err = config(&[("QIMEM_MASTER_KEY", "hunter2hunter2")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("QIMEM_MASTER_KEY") && !err.contains("hunter2"));
        let err = config(&[("QIMEM_MAX_BODY_BYTES", "0")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("QIMEM_MAX_BODY_BYTES"));
        let err = config(&[("QIMEM_MODE", "stateful")])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("required in stateful mode"));
    }

    #[test]
    fn stateful_mode_needs_a_database_url_and_checks_the_pool_size() {
        let key = (
            "QIMEM_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        );
        let err = config(&[("QIMEM_MODE", "stateful"), key])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("DATABASE_URL"));
        let url = ("DATABASE_URL", "postgres://u:pw@127.0.0.1/db");
        let c = config(&[("QIMEM_MODE", "stateful"), key, url]).unwrap();
        assert_eq!(c.database.unwrap().pool_size, 10);
        let err = config(&[
            ("QIMEM_MODE", "stateful"),
            key,
            url,
            ("QIMEM_DB_POOL_SIZE", "0"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("QIMEM_DB_POOL_SIZE"));
        let bad = ("DATABASE_URL", "postgres://u:pw@127.0.0.1/db?sslmode=maybe");
        let err = config(&[("QIMEM_MODE", "stateful"), key, bad])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sslmode") && !err.contains("pw"));
    }

    #[test]
    fn a_given_master_key_is_kept() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let c = config(&[("QIMEM_MASTER_KEY", key)]).unwrap();
        assert_eq!(c.master_key.as_str(), key);
        assert!(!c.master_key_generated);
    }
}
