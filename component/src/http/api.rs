//! The JSON HTTP API: routing and handlers, independent of `wasi:http` so
//! that every route can be tested natively.
//!
//! Routes (each also under `/v1/`, except the health routes):
//! `POST /keys`, `GET /keys`, `GET /keys/{id}`, `GET /keys/{id}/lineage`,
//! `POST /keys/{id}/rotate`, `POST /encrypt`, `POST /decrypt`,
//! `POST /rotate`, `GET /audit`; and `GET /health`, `/ready`, `/live`,
//! `/v1/security/health`, `GET /v1/openapi.json`.
//!
//! Routes only under `/v1/` (request -> response; every body is JSON):
//! - `POST /v1/keys/import` `{material_b64, algorithm?, labels?}` -> 201,
//!   the key as `POST /keys` shows it; 32-byte material (64 for
//!   `aes-256-siv`), else 400.
//! - `POST /v1/keys/{id}/disable` `{}` -> 200, the key (`disabled`).
//! - `POST /v1/keys/{id}/enable` `{}` -> 200, the key (`active`, or
//!   `retired` when a newer version exists).
//! - `POST /v1/keys/{id}/destroy` `{confirm: "<id>", force?}` -> 200, the
//!   tombstone (`destroyed`); the active key of a lineage needs `force`.
//! - `POST /v1/rewrap` `{input, aad_b64?}` ->
//!   `{envelope, key_id, previous_key_id}`.
//! - `POST /v1/data-key` `{key_id, aad_b64?}` ->
//!   `{key_id, plaintext_b64, wrapped}`; `POST /v1/data-key/wrapped`, the
//!   same without `plaintext_b64`. `wrapped` is an envelope.
//! - `POST /v1/batch/encrypt`, `/v1/batch/decrypt`, `/v1/batch/rewrap`
//!   `{items: [..]}` (items shaped as the single routes' bodies) ->
//!   `{results: [..]}` in the same order, each the single route's answer or
//!   `{error: {code, message}}`. 200 when every item succeeded; else 400, or
//!   the highest 5xx when an item met a fault. More than
//!   [`MAX_BATCH_ITEMS`] items: 413.
//!
//! A destroyed key answers 410 `key_destroyed` with its `key_id`.
//!
//! Access control ([`crate::auth`]) admits the request before it reaches
//! [`handle`]; `Context::caller` says who was admitted, and the lineage
//! restriction of that caller is checked here, before any operation runs.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::access;
use super::json::{
    self, BatchBody, CreateBody, DataKeyBody, DecryptBody, DestroyBody, EncryptBody, ImportBody,
    RewrapBody, RotateBody,
};
use crate::auth::Caller;
use crate::error::KmsError;
use crate::model::{Algorithm, AuditFilter, KeyState, RecordFilter, parse_key_id};
use crate::ops::{CreateOptions, DestroyOptions, Kms, MAX_BATCH_ITEMS, MAX_PAGE};
use crate::seal::MasterKeys;
use crate::secret::KeyMaterial;
use crate::store::Store;

/// A request as the API sees it. No `Debug`: the body may carry plaintext.
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

/// A JSON response. No `Debug`: the body may carry plaintext or a data key.
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
        let (status, _) = json::status_and_code(err);
        Response {
            status,
            body: json::error_value(err),
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
    let versioned = path.strip_prefix("/v1").filter(|r| r.starts_with('/'));
    let route = versioned.unwrap_or(path);
    let v1 = versioned.is_some();
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
        ("POST", ["keys", "import"]) if v1 => import(&kms, req),
        (_, ["keys", "import"]) if v1 => {
            return Response::plain_error(405, "method_not_allowed", "method not allowed");
        }
        (_, ["keys", "import"]) => {
            return Response::plain_error(404, "not_found", "no such route");
        }
        ("POST", ["keys", id, "disable"]) if v1 => {
            parse_key_id(id).and_then(|id| kms.disable(id)).map(key_ok)
        }
        ("POST", ["keys", id, "enable"]) if v1 => {
            parse_key_id(id).and_then(|id| kms.enable(id)).map(key_ok)
        }
        ("POST", ["keys", id, "destroy"]) if v1 => destroy(&kms, req, id),
        ("POST", ["rewrap"]) if v1 => body(req).and_then(|b| rewrap(&kms, b)).map(ok),
        ("POST", ["data-key"]) if v1 => data_key(&kms, req, true),
        ("POST", ["data-key", "wrapped"]) if v1 => data_key(&kms, req, false),
        ("POST", ["batch", op @ ("encrypt" | "decrypt" | "rewrap")]) if v1 => batch(&kms, req, op),
        ("POST", ["keys"]) => create(&kms, req),
        ("GET", ["keys"]) => list(&kms, req),
        ("GET", ["keys", id]) => parse_key_id(id)
            .and_then(|id| kms.get(id))
            .map(|r| Response::ok(200, json::key(&r))),
        ("GET", ["keys", id, "lineage"]) => lineage(&kms, id),
        ("POST", ["keys", id, "rotate"]) => rotate(&kms, id),
        ("POST", ["encrypt"]) => body(req).and_then(|b| encrypt(&kms, b)).map(ok),
        ("POST", ["decrypt"]) => body(req).and_then(|b| decrypt(&kms, b)).map(ok),
        ("GET", ["audit"]) => audit(&kms, req),
        ("POST", ["rotate"]) => body::<RotateBody>(req).and_then(|b| rotate(&kms, &b.key_id)),
        (_, ["keys" | "encrypt" | "decrypt" | "rotate" | "audit"])
        | (_, ["keys", _] | ["keys", _, "lineage" | "rotate"]) => {
            return Response::plain_error(405, "method_not_allowed", "method not allowed");
        }
        (_, ["rewrap" | "data-key"] | ["data-key", "wrapped"])
        | (_, ["keys", _, "disable" | "enable" | "destroy"])
        | (_, ["batch", "encrypt" | "decrypt" | "rewrap"])
            if v1 =>
        {
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
    let algorithm = algorithm(body.algorithm.as_deref())?;
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

fn ok(body: Value) -> Response {
    Response::ok(200, body)
}

fn key_ok(record: crate::model::KeyRecord) -> Response {
    Response::ok(200, json::key(&record))
}

/// Optional base64 associated data; absent is the same as empty.
fn aad(field: Option<&str>) -> Result<Vec<u8>, KmsError> {
    field
        .map(|a| json::b64("aad_b64", a))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn encrypt<S: Store + ?Sized>(kms: &Kms<'_, S>, body: EncryptBody) -> Result<Value, KmsError> {
    let key: Uuid = parse_key_id(&body.key_id)?;
    let plaintext = match (&body.input, &body.input_b64) {
        (Some(text), None) => zeroize::Zeroizing::new(text.as_bytes().to_vec()),
        (None, Some(b64)) => json::b64_secret("input_b64", b64)?,
        _ => {
            return Err(KmsError::InvalidInput(
                "give exactly one of input (text) or input_b64".into(),
            ));
        }
    };
    let aad = aad(body.aad_b64.as_deref())?;

    let (envelope, record) = kms.encrypt(key, &plaintext, &aad)?;
    Ok(json!({ "envelope": json::to_b64(&envelope), "key_id": record.id.to_string() }))
}

fn decrypt<S: Store + ?Sized>(kms: &Kms<'_, S>, body: DecryptBody) -> Result<Value, KmsError> {
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
    let aad = aad(body.aad_b64.as_deref())?;

    let (plaintext, record) = kms.decrypt(&envelope, &aad)?;
    let key_id = record.id.to_string();
    let text = if as_base64 {
        None
    } else {
        std::str::from_utf8(&plaintext).ok()
    };
    Ok(match text {
        Some(text) => json!({ "plaintext": text, "key_id": key_id }),
        None => json!({ "plaintext_b64": json::to_b64(&plaintext), "key_id": key_id }),
    })
}

fn rewrap<S: Store + ?Sized>(kms: &Kms<'_, S>, body: RewrapBody) -> Result<Value, KmsError> {
    let envelope = json::b64("input", &body.input)?;
    let aad = aad(body.aad_b64.as_deref())?;
    let out = kms.rewrap(&envelope, &aad)?;
    Ok(json!({
        "envelope": json::to_b64(&out.envelope),
        "key_id": out.key.id.to_string(),
        "previous_key_id": out.previous.id.to_string(),
    }))
}

fn import<S: Store + ?Sized>(kms: &Kms<'_, S>, req: &Request<'_>) -> Result<Response, KmsError> {
    let body: ImportBody = body(req)?;
    let material = KeyMaterial::from_bytes(json::b64_secret("material_b64", &body.material_b64)?);
    let algorithm = algorithm(body.algorithm.as_deref())?;
    let labels = body
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // `body` zeroizes its base64 text when it drops; `material` is
    // zeroized inside `import` whatever the outcome.
    drop(body);
    let record = kms.import(material, CreateOptions { algorithm, labels })?;
    Ok(Response::ok(201, json::key(&record)))
}

fn destroy<S: Store + ?Sized>(
    kms: &Kms<'_, S>,
    req: &Request<'_>,
    id: &str,
) -> Result<Response, KmsError> {
    let id = parse_key_id(id)?;
    let body: DestroyBody = body(req)?;
    let options = DestroyOptions {
        confirm: body.confirm,
        force: body.force,
    };
    kms.destroy(id, &options).map(key_ok)
}

fn data_key<S: Store + ?Sized>(
    kms: &Kms<'_, S>,
    req: &Request<'_>,
    with_plaintext: bool,
) -> Result<Response, KmsError> {
    let body: DataKeyBody = body(req)?;
    let key = parse_key_id(&body.key_id)?;
    let aad = aad(body.aad_b64.as_deref())?;
    let dk = kms.generate_data_key(key, &aad, with_plaintext)?;

    let mut out = json!({
        "key_id": dk.key.id.to_string(),
        "wrapped": json::to_b64(&dk.wrapped),
    });
    if let Some(plain) = &dk.plaintext {
        // TODO(issue 5): the base64 copy in the JSON value is not zeroized;
        // it lives only as long as this request's instance, but a writer
        // that zeroizes would be tighter (decrypt's plaintext likewise).
        out["plaintext_b64"] = Value::String(json::to_b64(plain.expose()));
    }
    Ok(Response::ok(200, out))
}

/// One batch route: every item decoded and run on its own.
fn batch<S: Store + ?Sized>(
    kms: &Kms<'_, S>,
    req: &Request<'_>,
    op: &str,
) -> Result<Response, KmsError> {
    let body: BatchBody = body(req)?;
    if body.items.len() > MAX_BATCH_ITEMS {
        return Ok(Response::plain_error(
            413,
            "payload_too_large",
            &format!("a batch holds at most {MAX_BATCH_ITEMS} items"),
        ));
    }
    let item = |value: Value| -> Result<Value, KmsError> {
        let shape = |e: serde_json::Error| KmsError::InvalidInput(format!("invalid item: {e}"));
        match op {
            "encrypt" => encrypt(kms, serde_json::from_value(value).map_err(shape)?),
            "decrypt" => decrypt(kms, serde_json::from_value(value).map_err(shape)?),
            _ => rewrap(kms, serde_json::from_value(value).map_err(shape)?),
        }
    };
    let results = crate::ops::run_batch(body.items, item)?;

    let mut status = 200;
    let results: Vec<Value> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|err| {
                if let KmsError::Internal(detail) = &err {
                    crate::log::error(format_args!("batch {op} item failed: {detail}"));
                }
                let (item_status, _) = json::status_and_code(&err);
                status = match (status, item_status) {
                    (s, i) if i >= 500 => s.max(i),
                    (200, _) => 400,
                    (s, _) => s,
                };
                json::error_value(&err)
            })
        })
        .collect();
    Ok(Response::ok(status, json!({ "results": results })))
}

/// An optional algorithm name.
fn algorithm(name: Option<&str>) -> Result<Option<Algorithm>, KmsError> {
    name.map(|name| {
        Algorithm::from_name(name).ok_or_else(|| {
            KmsError::InvalidInput(
                "algorithm must be aes-256-gcm, xchacha20-poly1305 or aes-256-siv".into(),
            )
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests;
