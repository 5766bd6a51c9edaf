//! The HTTP/1.1 server: accepts connections and hands every request to a
//! fresh component instance, with at most `max_instances` in flight.
//!
//! The host answers `GET /metrics` itself (unless metrics have their own
//! address), gives every request an id, counts it, and logs refused
//! attempts (401/403) with the peer address, which only the host knows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::runtime::Runtime;
use crate::{metrics, telemetry};

/// The component's operation report header (see the component's HTTP glue).
const OPERATION_HEADER: &str = qimem_component::http::OPERATION_HEADER;

/// Serve until `shutdown` resolves; then stop accepting and let open
/// connections finish.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    max_in_flight: usize,
    metrics_here: bool,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let runtime = runtime.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let runtime = runtime.clone();
                let permits = permits.clone();
                async move {
                    let resp = answer(&runtime, &permits, req, peer, metrics_here).await;
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("shutting down");
}

async fn answer(
    runtime: &Runtime,
    permits: &Semaphore,
    mut req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    metrics_here: bool,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let id = telemetry::request_id(req.headers());
    req.headers_mut().insert(telemetry::REQUEST_ID, id.clone());
    let request_id = id.to_str().unwrap_or_default();

    let mut response = if metrics_here && path == "/metrics" {
        metrics::response(&method)
    } else {
        let Ok(_permit) = permits.acquire().await else {
            return json_error(503, "unavailable", "the server is shutting down");
        };
        match runtime.handle(req).await {
            Ok(resp) => resp,
            Err(e) => {
                // A host fault or a trap: the detail goes to the log, the
                // caller learns only that the fault was ours.
                let error = format!("{e:#}");
                tracing::error!(request_id, %method, %path, error, "request failed");
                json_error(500, "internal", "internal error")
            }
        }
    };

    let status = response.status().as_u16();
    if let Some(op) = response.headers_mut().remove(OPERATION_HEADER) {
        metrics::operation(op.to_str().unwrap_or_default(), status < 400);
    }
    response
        .headers_mut()
        .insert(telemetry::REQUEST_ID, id.clone());
    metrics::request(&path, method.as_str(), status, started.elapsed());
    let route = metrics::route_template(&path);
    if status == 401 || status == 403 {
        tracing::warn!(request_id, %peer, %method, route, status, "refused request");
    }
    tracing::debug!(
        request_id,
        %method,
        route,
        %peer,
        status,
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// A JSON error response made by the host itself.
pub fn json_error(status: u16, code: &str, message: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let body = Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        "application/json".parse().expect("valid header"),
    );
    resp
}
