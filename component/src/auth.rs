//! Access control: bearer tokens with names, scopes and an optional lineage
//! restriction, enforced inside the component so that every way of serving
//! it (native host, Spin, composition) enforces the same rules.
//!
//! Tokens reach the component through `wasi:config` as `auth_tokens`, a
//! JSON array; each entry holds the SHA-256 of a token (never the token):
//!
//! ```json
//! [{"name": "billing", "sha256": "<64 hex digits>",
//!   "scopes": ["encrypt", "decrypt"], "lineages": ["<lineage uuid>"]}]
//! ```
//!
//! `lineages` is optional; without it the token reaches every lineage.
//! With no `auth_tokens` configured, access control is off and every caller
//! is `anonymous` (the native host then serves on loopback only).
//!
//! A missing, malformed or unknown token is a 401, a known token without
//! the scope (or outside its lineages) a 403; neither body says which part
//! was wrong. The log names the token, never the token's text or hash.

use std::collections::BTreeSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::KmsError;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Create, rotate, import, disable, enable, destroy keys.
    KeysAdmin,
    /// Read key metadata, lineages and the audit trail.
    KeysRead,
    /// Encrypt (and generate data keys).
    Encrypt,
    /// Decrypt.
    Decrypt,
    /// Re-encrypt under the current key of a lineage.
    Rewrap,
}

impl Scope {
    /// Every scope, in the order of the table in the OpenAPI document.
    pub const ALL: [Scope; 5] = [
        Scope::KeysAdmin,
        Scope::KeysRead,
        Scope::Encrypt,
        Scope::Decrypt,
        Scope::Rewrap,
    ];

    /// The scope's configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::KeysAdmin => "keys:admin",
            Scope::KeysRead => "keys:read",
            Scope::Encrypt => "encrypt",
            Scope::Decrypt => "decrypt",
            Scope::Rewrap => "rewrap",
        }
    }

    /// The scope with this configuration name.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The scope a route needs; `None` for the routes open to everyone.
///
/// Paths are taken with or without `/v1` and a trailing slash. A route
/// this table does not know needs `keys:admin`, so a route added later is
/// closed until it is placed here.
pub fn required_scope(method: &str, path: &str) -> Option<Scope> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    if matches!(
        path,
        "/health" | "/ready" | "/live" | "/metrics" | "/v1/security/health" | "/v1/openapi.json"
    ) {
        return None;
    }
    let route = path
        .strip_prefix("/v1")
        .filter(|r| r.starts_with('/'))
        .unwrap_or(path);
    // The batch forms (`/batch/encrypt`, ...) need the scope of the
    // operation they batch.
    let segments: Vec<&str> = route
        .trim_start_matches('/')
        .split('/')
        .enumerate()
        .filter(|(i, s)| !(*i == 0 && *s == "batch"))
        .map(|(_, s)| s)
        .collect();
    let read = method == "GET" || method == "HEAD";
    Some(match segments.as_slice() {
        ["keys"] | ["keys", _] | ["keys", _, "lineage"] | ["audit"] if read => Scope::KeysRead,
        ["encrypt"] | ["data-key"] | ["data-key", "wrapped"] => Scope::Encrypt,
        ["decrypt"] => Scope::Decrypt,
        ["rewrap"] => Scope::Rewrap,
        _ => Scope::KeysAdmin,
    })
}

/// One configured token, as read from `auth_tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    sha256: String,
    scopes: Vec<String>,
    #[serde(default)]
    lineages: Option<Vec<String>>,
}

/// A token QIMEM knows: its name, the SHA-256 of its text, what it may do.
/// Its `Debug` leaves the hash out.
#[derive(Clone)]
pub struct Token {
    /// The name that appears in logs and the audit trail.
    pub name: String,
    hash: [u8; 32],
    /// Scopes granted.
    pub scopes: BTreeSet<Scope>,
    /// Lineages it may touch; `None` means every lineage.
    pub lineages: Option<BTreeSet<Uuid>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("lineages", &self.lineages)
            .finish_non_exhaustive()
    }
}

/// The access-control configuration.
#[derive(Clone, Debug, Default)]
pub struct Access {
    tokens: Vec<Token>,
}

/// Who is calling, once admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token name, or `anonymous` when access control is off.
    pub name: String,
    /// Lineages the caller may touch; `None` means every lineage.
    pub lineages: Option<BTreeSet<Uuid>>,
}

impl Caller {
    /// The caller when access control is off: anonymous, unrestricted.
    pub fn anonymous() -> Caller {
        Caller {
            name: crate::ops::ANONYMOUS.to_string(),
            lineages: None,
        }
    }

    /// Whether the caller may touch `lineage_id`.
    pub fn may_touch(&self, lineage_id: Uuid) -> bool {
        self.lineages
            .as_ref()
            .is_none_or(|l| l.contains(&lineage_id))
    }
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No token, a malformed header or an unknown token: 401.
    Unauthenticated,
    /// A known token (named) without the scope: 403.
    Forbidden(String),
}

impl Access {
    /// Parse `auth_tokens`. Errors name the entry, never a hash.
    pub fn parse(text: &str) -> Result<Access, KmsError> {
        let bad = |m: String| KmsError::Internal(format!("auth_tokens: {m}"));
        let entries: Vec<TokenEntry> = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not a JSON array of {{name, sha256, scopes, lineages}}: line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        let mut tokens = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            if entry.name.trim().is_empty() || entry.name.len() > 64 {
                return Err(bad(format!("entry {i} needs a name of 1 to 64 characters")));
            }
            let mut hash = [0u8; 32];
            hex::decode_to_slice(entry.sha256.trim(), &mut hash)
                .map_err(|_| bad(format!("{}: sha256 must be 64 hex digits", entry.name)))?;
            let scopes = entry
                .scopes
                .iter()
                .map(|s| {
                    Scope::from_name(s)
                        .ok_or_else(|| bad(format!("{}: unknown scope {s:?}", entry.name)))
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            let lineages = entry
                .lineages
                .map(|ls| {
                    ls.iter()
                        .map(|l| {
                            Uuid::try_parse(l)
                                .map_err(|_| bad(format!("{}: bad lineage id", entry.name)))
                        })
                        .collect::<Result<BTreeSet<_>, _>>()
                })
                .transpose()?;
            if tokens.iter().any(|t: &Token| t.name == entry.name) {
                return Err(bad(format!("{}: the name is used twice", entry.name)));
            }
            if tokens.iter().any(|t: &Token| t.hash == hash) {
                return Err(bad(format!(
                    "{}: the same token is configured twice",
                    entry.name
                )));
            }
            tokens.push(Token {
                name: entry.name,
                hash,
                scopes,
                lineages,
            });
        }
        Ok(Access { tokens })
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether any token is configured (access control is on).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Admit or refuse a request given its `Authorization` header.
    pub fn admit(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<Caller, Refusal> {
        let Some(scope) = required_scope(method, path) else {
            return Ok(Caller::anonymous());
        };
        if !self.enabled() {
            return Ok(Caller::anonymous());
        }
        let token = bearer(authorization).ok_or(Refusal::Unauthenticated)?;
        let found = self.find(token).ok_or(Refusal::Unauthenticated)?;
        if !found.scopes.contains(&scope) {
            return Err(Refusal::Forbidden(found.name.clone()));
        }
        Ok(Caller {
            name: found.name.clone(),
            lineages: found.lineages.clone(),
        })
    }

    /// The token whose hash matches, comparing every hash in constant time.
    fn find(&self, token: &str) -> Option<&Token> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        // Every configured hash is compared, so timing says nothing about
        // which one (if any) matched.
        for candidate in &self.tokens {
            if bool::from(candidate.hash.ct_eq(&digest)) {
                found = Some(candidate);
            }
        }
        found
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 7235 section 2.1); the token is taken as sent.
fn bearer(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// The hex SHA-256 of a token, as `auth_tokens` holds it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests;
