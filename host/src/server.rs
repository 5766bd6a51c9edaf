//! The HTTP/1.1 server: accepts connections and hands every request to a
//! fresh component instance, with at most `max_instances` in flight.

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

/// Serve until `shutdown` resolves; then stop accepting and let open
/// connections finish.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    max_in_flight: usize,
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
                    Ok::<_, std::convert::Infallible>(answer(&runtime, &permits, req, peer).await)
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
    req: hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> hyper::Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();

    let Ok(_permit) = permits.acquire().await else {
        return json_error(503, "unavailable", "the server is shutting down");
    };
    let response = match runtime.handle(req).await {
        Ok(resp) => resp,
        Err(e) => {
            // A host fault or a trap: the detail goes to the log, the
            // caller learns only that the fault was ours.
            tracing::error!(%method, %path, error = format!("{e:#}"), "request failed");
            json_error(500, "internal", "internal error")
        }
    };
    tracing::debug!(
        %method,
        %path,
        %peer,
        status = response.status().as_u16(),
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
