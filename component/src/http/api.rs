//! The JSON HTTP API: routing and handlers, independent of `wasi:http` so
//! that every route can be tested natively.
//!
//! Routes (each also under `/v1/`, except the health routes):
//! `POST /keys`, `GET /keys`, `GET /keys/{id}`, `GET /keys/{id}/lineage`,
//! `POST /keys/{id}/rotate`, `POST /encrypt`, `POST /decrypt`,
//! `POST /rotate`, `GET /audit`; and `GET /health`, `/ready`, `/live`,
//! `/v1/security/health`, `GET /v1/openapi.json`.
//!
//! Access control ([`crate::auth`]) admits the request before it reaches
//! [`handle`]; `Context::caller` says who was admitted, and the lineage
//! restriction of that caller is checked here, before any operation runs.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::access;
use super::json::{self, CreateBody, DecryptBody, EncryptBody, RotateBody};
use crate::auth::Caller;
use crate::error::KmsError;
use crate::model::{Algorithm, AuditFilter, KeyState, RecordFilter, parse_key_id};
use crate::ops::{CreateOptions, Kms, MAX_PAGE};
use crate::seal::MasterKeys;
use crate::store::Store;

/// A request as the API sees it.
#[derive(Debug)]
pub struct Request<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    /// The query string without `?`, possibly empty.
    pub query: &'a str,
    /// The `content-type` header, if any.
    pub content_type: Option<&'a str>,
    /// The whole body.
    pub body: &'a [u8],
}

/// A JSON response.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// JSON value to send.
    pub body: Value,
}

impl Response {
    fn ok(status: u16, body: Value) -> Response {
        Response { status, body }
    }

    /// A response for an error the caller can act on (or a 500).
    pub fn error(err: &KmsError) -> Response {
        let (status, code) = json::status_and_code(err);
        let current = match err {
            KmsError::Conflict { current_key_id, .. } => current_key_id.map(|c| c.to_string()),
            _ => None,
        };
        let message = match err {
            // Faults stay in the log; the caller learns only that one happened.
            KmsError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        Response {
            status,
            body: json::error_body(code, &message, current),
        }
    }

    /// A response with an HTTP-level error code of its own.
    pub fn plain_error(status: u16, code: &str, message: &str) -> Response {
        Response {
            status,
            body: json::error_body(code, message, None),
        }
    }
}

/// Everything a request needs: the store and the master keys, or why the
/// master keys could not be loaded.
pub struct Context<'a, S: Store + ?Sized> {
    /// The key store.
    pub store: &'a S,
    /// The master keys, or the configuration error.
    pub keys: Result<&'a MasterKeys, &'a KmsError>,
    /// Who access control admitted; `None` is the anonymous, unrestricted
    /// caller of a deployment without tokens.
    pub caller: Option<&'a Caller>,
    /// Whether encrypt, decrypt and rewrap go to the audit trail.
    pub audit_data_plane: bool,
}

/// The OpenAPI 3.1 description of this API, served at `/v1/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi/openapi.json");

/// Route and answer one request.
pub fn handle<S: Store + ?Sized>(ctx: &Context<'_, S>, req: &Request<'_>) -> Response {
    let path = req
        .path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(req.path);
    match path {
        "/health" | "/ready" => return health(ctx, req),
        "/live" => return only_get(req, || Response::ok(200, json!({ "status": "ok" }))),
        "/v1/security/health" => return security_health(ctx, req),
        "/v1/openapi.json" => return only_get(req, openapi),
        _ => {}
    }
    let route = path
        .strip_prefix("/v1")
        .filter(|r| r.starts_with('/'))
        .unwrap_or(path);
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();

    let keys = match ctx.keys {
        Ok(keys) => keys,
        Err(err) => {
            crate::log::error(format_args!("master key unavailable: {err}"));
            return Response::error(&KmsError::Internal(err.to_string()));
        }
    };
    if req.method == "POST" && !is_json(req.content_type) {
        return Response::plain_error(
            415,
            "unsupported_media_type",
            "content-type must be application/json",
        );
    }
    let anonymous = Caller::anonymous();
    let caller = ctx.caller.unwrap_or(&anonymous);
    let kms = Kms::new(ctx.store, keys).with_actor(&caller.name);
    if !access::lineage_allowed(&kms, caller, req.method, &segments, req.query, req.body) {
        crate::log::warn(format_args!(
            "refused {} {path} for token {}: outside its lineages",
            req.method, caller.name
        ));
        return access::forbidden();
    }
    let result = match (req.method, segments.as_slice()) {
        ("POST", ["keys"]) => create(&kms, req),
        ("GET", ["keys"]) => list(&kms, req),
        ("GET", ["keys", id]) => parse_key_id(id)
            .and_then(|id| kms.get(id))
            .map(|r| Response::ok(200, json::key(&r))),
        ("GET", ["keys", id, "lineage"]) => lineage(&kms, id),
        ("POST", ["keys", id, "rotate"]) => rotate(&kms, id),
        ("POST", ["encrypt"]) => encrypt(&kms, req),
        ("POST", ["decrypt"]) => decrypt(&kms, req),
        ("GET", ["audit"]) => audit(&kms, req),
        ("POST", ["rotate"]) => body::<RotateBody>(req).and_then(|b| rotate(&kms, &b.key_id)),
        (_, ["keys" | "encrypt" | "decrypt" | "rotate" | "audit"])
        | (_, ["keys", _] | ["keys", _, "lineage" | "rotate"]) => {
            return Response::plain_error(405, "method_not_allowed", "method not allowed");
        }
        _ => return Response::plain_error(404, "not_found", "no such route"),
    };
    let data_plane = match segments.as_slice() {
        ["encrypt"] => Some("encrypted"),
        ["decrypt"] => Some("decrypted"),
        ["rewrap"] => Some("rewrapped"),
        _ => None,
    };
    if let (true, Some(action)) = (ctx.audit_data_plane, data_plane) {
        access::audit_data_plane(&kms, action, (&segments, req.body), &result);
    }
    result.unwrap_or_else(|err| {
        if let KmsError::Internal(detail) = &err {
            crate::log::error(format_args!("{} {} failed: {detail}", req.method, path));
        }
        Response::error(&err)
    })
}

/// Whether a `content-type` is JSON; an absent one is taken as JSON.
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        let media = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        media == "application/json" || media.ends_with("+json")
    })
}

fn openapi() -> Response {
    match serde_json::from_str(OPENAPI_JSON) {
        Ok(doc) => Response::ok(200, doc),
        Err(e) => Response::error(&KmsError::Internal(format!("openapi.json: {e}"))),
    }
}

fn only_get(req: &Request<'_>, answer: impl FnOnce() -> Response) -> Response {
    if req.method == "GET" || req.method == "HEAD" {
        answer()
    } else {
        Response::plain_error(405, "method_not_allowed", "method not allowed")
    }
}

fn health<S: Store + ?Sized>(ctx: &Context<'_, S>, req: &Request<'_>) -> Response {
    only_get(req, || {
        let mut checks = serde_json::Map::new();
        if let Err(err) = ctx.store.ping() {
            checks.insert(
                "database".into(),
                Value::String(KmsError::from(err).to_string()),
            );
        }
        if let Err(err) = ctx.keys {
            checks.insert("master_key".into(), Value::String(err.to_string()));
        }
        if checks.is_empty() {
            Response::ok(200, json!({ "status": "ok" }))
        } else {
            Response::ok(503, json!({ "status": "unhealthy", "checks": checks }))
        }
    })
}

fn security_health<S: Store + ?Sized>(ctx: &Context<'_, S>, req: &Request<'_>) -> Response {
    only_get(req, || match ctx.keys {
        Ok(keys) => match crate::selftest::run(keys) {
            Ok(()) => Response::ok(
                200,
                json!({
                    "status": "ok",
                    "master_key_fingerprint": keys.current_fingerprint(),
                    "checks": { "random": "ok", "seal": "ok", "algorithms": "ok" },
                }),
            ),
            Err(err) => Response::ok(
                503,
                json!({ "status": "unhealthy", "checks": { "self_test": err.to_string() } }),
            ),
        },
        Err(err) => Response::ok(
            503,
            json!({ "status": "unhealthy", "checks": { "master_key": err.to_string() } }),
        ),
    })
}

/// Parse a JSON body; an empty body parses as `{}` when `T` allows it.
fn body<T: DeserializeOwned>(req: &Request<'_>) -> Result<T, KmsError> {
    let bytes = if req.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        req.body
    };
    serde_json::from_slice(bytes).map_err(|e| {
        // serde's message names the field and position, never the value
        // when the shape is wrong; data errors only echo what was sent.
        KmsError::InvalidInput(format!("invalid JSON body: {e}"))
    })
}

fn create<S: Store + ?Sized>(kms: &Kms<'_, S>, req: &Request<'_>) -> Result<Response, KmsError> {
    let body: CreateBody = body(req)?;
    let algorithm = body
        .algorithm
        .as_deref()
        .map(|name| {
            Algorithm::from_name(name).ok_or_else(|| {
                KmsError::InvalidInput(
                    "algorithm must be aes-256-gcm, xchacha20-poly1305 or aes-256-siv".into(),
                )
            })
        })
        .transpose()?;
    let record = kms.create(CreateOptions {
        algorithm,
        labels: body.labels.into_iter().collect(),
    })?;
    Ok(Response::ok(201, json::key(&record)))
}

fn list<S: Store + ?Sized>(kms: &Kms<'_, S>, req: &Request<'_>) -> Result<Response, KmsError> {
    let mut filter = RecordFilter::default();
    for (name, value) in form_urlencoded::parse(req.query.as_bytes()) {
        match &*name {
            "limit" => filter.limit = parse_limit(&value)?,
            "after" => filter.after = Some(parse_key_id(&value)?),
            "lineage_id" => filter.lineage_id = Some(parse_key_id(&value)?),
            "state" => {
                filter.state = Some(KeyState::from_name(&value).ok_or_else(|| {
                    KmsError::InvalidInput(
                        "state must be active, retired, disabled or destroyed".into(),
                    )
                })?);
            }
            other => {
                return Err(KmsError::InvalidInput(format!(
                    "unknown query parameter {other}"
                )));
            }
        }
    }
    let page = kms.list(filter)?;
    let keys: Vec<Value> = page.records.iter().map(json::key).collect();
    Ok(Response::ok(
        200,
        json!({ "keys": keys, "next": page.next.map(|n| n.to_string()) }),
    ))
}

fn audit<S: Store + ?Sized>(kms: &Kms<'_, S>, req: &Request<'_>) -> Result<Response, KmsError> {
    let mut filter = AuditFilter::default();
    for (name, value) in form_urlencoded::parse(req.query.as_bytes()) {
        match &*name {
            "limit" => filter.limit = parse_limit(&value)?,
            "after" => {
                filter.after = Some(value.parse().map_err(|_| {
                    KmsError::InvalidInput("after must be an event sequence number".into())
                })?);
            }
            "key_id" => filter.key_id = Some(parse_key_id(&value)?),
            "lineage_id" => filter.lineage_id = Some(parse_key_id(&value)?),
            other => {
                return Err(KmsError::InvalidInput(format!(
                    "unknown query parameter {other}"
                )));
            }
        }
    }
    let events = kms.audit_trail(filter)?;
    let next = events.last().map(|e| e.seq);
    let events: Vec<Value> = events.iter().map(json::audit_event).collect();
    Ok(Response::ok(200, json!({ "events": events, "next": next })))
}

fn parse_limit(value: &str) -> Result<u32, KmsError> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| {
            KmsError::InvalidInput(format!("limit must be a whole number from 1 to {MAX_PAGE}"))
        })
}

fn lineage<S: Store + ?Sized>(kms: &Kms<'_, S>, id: &str) -> Result<Response, KmsError> {
    let id = parse_key_id(id)?;
    // The path may name any key of the lineage, or the lineage itself.
    let lineage_id = match kms.get(id) {
        Ok(record) => record.lineage_id,
        Err(KmsError::NotFound(_)) => id,
        Err(other) => return Err(other),
    };
    let versions = kms.lineage(lineage_id)?;
    let keys: Vec<Value> = versions.iter().map(json::key).collect();
    Ok(Response::ok(
        200,
        json!({ "lineage_id": lineage_id.to_string(), "keys": keys }),
    ))
}

fn rotate<S: Store + ?Sized>(kms: &Kms<'_, S>, id: &str) -> Result<Response, KmsError> {
    let successor = kms.rotate(parse_key_id(id)?)?;
    Ok(Response::ok(200, json::key(&successor)))
}

fn encrypt<S: Store + ?Sized>(kms: &Kms<'_, S>, req: &Request<'_>) -> Result<Response, KmsError> {
    let body: EncryptBody = body(req)?;
    let key: Uuid = parse_key_id(&body.key_id)?;
    let plaintext = match (&body.input, &body.input_b64) {
        (Some(text), None) => zeroize::Zeroizing::new(text.as_bytes().to_vec()),
        (None, Some(b64)) => zeroize::Zeroizing::new(json::b64("input_b64", b64)?),
        _ => {
            return Err(KmsError::InvalidInput(
                "give exactly one of input (text) or input_b64".into(),
            ));
        }
    };
    let aad = body
        .aad_b64
        .as_deref()
        .map(|a| json::b64("aad_b64", a))
        .transpose()?;

    let (envelope, record) = kms.encrypt(key, &plaintext, aad.as_deref().unwrap_or_default())?;
    Ok(Response::ok(
        200,
        json!({ "envelope": json::to_b64(&envelope), "key_id": record.id.to_string() }),
    ))
}

fn decrypt<S: Store + ?Sized>(kms: &Kms<'_, S>, req: &Request<'_>) -> Result<Response, KmsError> {
    let body: DecryptBody = body(req)?;
    let as_base64 = match body.output.as_deref() {
        None | Some("text") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(KmsError::InvalidInput(
                "output must be text or base64".into(),
            ));
        }
    };
    let envelope = json::b64("input", &body.input)?;
    let aad = body
        .aad_b64
        .as_deref()
        .map(|a| json::b64("aad_b64", a))
        .transpose()?;

    let (plaintext, record) = kms.decrypt(&envelope, aad.as_deref().unwrap_or_default())?;
    let key_id = record.id.to_string();
    let text = if as_base64 {
        None
    } else {
        std::str::from_utf8(&plaintext).ok()
    };
    Ok(Response::ok(
        200,
        match text {
            Some(text) => json!({ "plaintext": text, "key_id": key_id }),
            None => json!({ "plaintext_b64": json::to_b64(&plaintext), "key_id": key_id }),
        },
    ))
}

#[cfg(test)]
mod tests;
