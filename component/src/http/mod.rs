//! The `wasi:http/incoming-handler` export: reads the request, hands it to
//! [`api`], writes the JSON response.

pub mod access;
pub mod api;
pub mod json;

use crate::Component;
use crate::bindings::exports::wasi::http::incoming_handler::Guest;
use crate::bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::wit::{WitStore, settings};

/// Largest chunk `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Broken,
}

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (response, operation) = answer(request);
        send(out, &response, operation.as_deref());
    }
}

/// The response header that tells the host which key operation ran
/// (`kind algorithm`), for its metrics; the host removes it.
pub const OPERATION_HEADER: &str = "qimem-operation";

fn answer(request: IncomingRequest) -> (api::Response, Option<String>) {
    let mut operation = None;
    let response = respond(request, &mut operation);
    (response, operation)
}

/// Answer one request; `operation` is set to the key operation it ran.
fn respond(request: IncomingRequest, operation: &mut Option<String>) -> api::Response {
    let settings = settings();
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".to_string(),
        Method::Post => "POST".to_string(),
        Method::Put => "PUT".to_string(),
        Method::Delete => "DELETE".to_string(),
        Method::Patch => "PATCH".to_string(),
        Method::Options => "OPTIONS".to_string(),
        Method::Connect => "CONNECT".to_string(),
        Method::Trace => "TRACE".to_string(),
        Method::Other(other) => other.to_ascii_uppercase(),
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let headers = request.headers();
    let authorization = headers
        .get("authorization")
        .into_iter()
        .next()
        .and_then(|v| String::from_utf8(v).ok());
    let content_type = headers
        .get("content-type")
        .into_iter()
        .next()
        .and_then(|v| String::from_utf8(v).ok());
    let declared_len = headers
        .get("content-length")
        .into_iter()
        .next()
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<u64>().ok());
    drop(headers);

    // Access control comes first: a refused request's body is never read.
    let caller = match admit(&settings, &method, path, authorization.as_deref()) {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };

    let too_large = || {
        api::Response::plain_error(
            413,
            "payload_too_large",
            &format!(
                "request body is larger than {} bytes",
                settings.max_body_bytes
            ),
        )
    };
    if declared_len.is_some_and(|n| n > settings.max_body_bytes as u64) {
        return too_large();
    }
    // The body may carry plaintext or key material (import): zeroized once
    // answered.
    let body = match read_body(request, settings.max_body_bytes, declared_len) {
        Ok(body) => zeroize::Zeroizing::new(body),
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Broken) => {
            return api::Response::plain_error(400, "invalid_input", "request body unreadable");
        }
    };

    let ctx = api::Context {
        store: &WitStore,
        keys: settings.keys.as_ref(),
        caller: Some(&caller),
        audit_data_plane: settings.audit_data_plane,
    };
    let req = api::Request {
        method: &method,
        path,
        query,
        content_type: content_type.as_deref(),
        body: &body,
    };
    let response = api::handle(&ctx, &req);
    *operation = operation_report(&method, path, &body, &response);
    response
}

/// `kind algorithm` of the key operation a request ran, if any.
fn operation_report(method: &str, path: &str, body: &[u8], resp: &api::Response) -> Option<String> {
    let route = path
        .strip_prefix("/v1")
        .unwrap_or(path)
        .trim_end_matches('/');
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let kind = match (method, segments.as_slice()) {
        ("POST", ["keys"]) => "create",
        ("POST", ["rotate"] | ["keys", _, "rotate"]) => "rotate",
        ("POST", ["encrypt"]) => "encrypt",
        ("POST", ["decrypt"]) => "decrypt",
        ("POST", ["rewrap"]) => "rewrap",
        // TODO(issue 5): report import, data keys and state changes too.
        _ => return None,
    };
    let envelope_algorithm = |text: Option<&str>| {
        let bytes = json::b64("envelope", text?).ok()?;
        crate::envelope::parse(&bytes)
            .ok()
            .map(|e| e.algorithm.name().to_string())
    };
    let request: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let algorithm = resp.body["algorithm"]
        .as_str()
        .map(str::to_string)
        .or_else(|| envelope_algorithm(resp.body["envelope"].as_str()))
        .or_else(|| envelope_algorithm(request.as_ref()?["input"].as_str()))
        .unwrap_or_else(|| "unknown".to_string());
    Some(format!("{kind} {algorithm}"))
}

/// Admit the request or answer the refusal, logging who was refused (by
/// token name, never the token) and on which route.
fn admit(
    settings: &crate::config::Settings,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<crate::auth::Caller, api::Response> {
    let access = match &settings.access {
        Ok(access) => access,
        // An unreadable token table fails closed on every protected route.
        Err(e) if crate::auth::required_scope(method, path).is_some() => {
            crate::log::error(format_args!("access control unavailable: {e}"));
            return Err(api::Response::error(e));
        }
        Err(_) => return Ok(crate::auth::Caller::anonymous()),
    };
    access
        .admit(method, path, authorization)
        .map_err(|refusal| {
            match &refusal {
                crate::auth::Refusal::Unauthenticated => crate::log::warn(format_args!(
                    "refused {method} {path}: no valid bearer token"
                )),
                crate::auth::Refusal::Forbidden(name) => crate::log::warn(format_args!(
                    "refused {method} {path} for token {name}: scope not granted"
                )),
            }
            access::refusal(&refusal)
        })
}

/// Read the whole body, refusing more than `limit` bytes. The declared
/// length sizes the buffer up front, so that growing it leaves no stray
/// copies of the body behind in most requests.
fn read_body(
    request: IncomingRequest,
    limit: usize,
    declared_len: Option<u64>,
) -> Result<Vec<u8>, BodyError> {
    let Ok(body) = request.consume() else {
        return Ok(Vec::new());
    };
    let hint = declared_len.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut bytes = Vec::with_capacity(hint);
    {
        let stream = body.stream().map_err(|_| BodyError::Broken)?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(BodyError::TooLarge);
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Err(BodyError::Broken),
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

/// Send a JSON response.
fn send(out: ResponseOutparam, response: &api::Response, operation: Option<&str>) {
    let body = serde_json::to_vec(&response.body).unwrap_or_else(|_| b"{}".to_vec());
    let mut fields = vec![
        ("content-type".to_string(), b"application/json".to_vec()),
        (
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ),
    ];
    if let Some(op) = operation {
        fields.push((OPERATION_HEADER.to_string(), op.as_bytes().to_vec()));
    }
    if response.status == 401 {
        fields.push(("www-authenticate".to_string(), b"Bearer".to_vec()));
    }
    let headers = Fields::from_list(&fields).unwrap_or_else(|_| Fields::new());
    let resp = OutgoingResponse::new(headers);
    // Every status produced by the API is a valid HTTP status.
    let _ = resp.set_status_code(response.status);
    let Ok(out_body) = resp.body() else {
        ResponseOutparam::set(out, Ok(resp));
        return;
    };
    ResponseOutparam::set(out, Ok(resp));

    if let Ok(stream) = out_body.write() {
        for chunk in body.chunks(WRITE_CHUNK) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // The client went away; nothing more can be sent.
                return;
            }
        }
    }
    let _ = OutgoingBody::finish(out_body, None);
}
