//! Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! Labels have bounded cardinality: routes are templates (`/v1/keys/{id}`),
//! never key ids; unknown paths are `other`. What is counted: requests by
//! route, method and status with latency histograms, operations by kind,
//! algorithm and outcome, refused authentications by reason, component
//! instantiation time, store errors by kind, and the database pool.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a served request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: String,
    status: u16,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// Labels of a key operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    kind: String,
    algorithm: String,
    outcome: &'static str,
}

/// Why access control refused a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// What kind of store error occurred.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

/// A database pool connection state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the host exports.
struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    operations: Family<OperationLabels, Counter>,
    refused: Family<Reason, Counter>,
    instantiation: Histogram,
    store_errors: Family<Kind, Counter>,
    pool: Family<State, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("qimem");
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "http_requests",
        "HTTP requests by route template, method and status",
        requests.clone(),
    );
    let latency = HistogramFamily::<RouteLabels>::new_with_constructor(latency_histogram);
    registry.register(
        "http_request_duration_seconds",
        "Time to the response head, by route template",
        latency.clone(),
    );
    let operations = Family::<OperationLabels, Counter>::default();
    registry.register(
        "operations",
        "Key operations by kind, algorithm and outcome",
        operations.clone(),
    );
    let refused = Family::<Reason, Counter>::default();
    registry.register(
        "auth_refused",
        "Requests refused by access control (unauthenticated: 401, forbidden: 403)",
        refused.clone(),
    );
    let instantiation = latency_histogram();
    registry.register(
        "component_instantiation_seconds",
        "Time to instantiate the component for one request",
        instantiation.clone(),
    );
    let store_errors = Family::<Kind, Counter>::default();
    registry.register(
        "store_errors",
        "Errors returned by the key store, by kind",
        store_errors.clone(),
    );
    let pool = Family::<State, Gauge>::default();
    registry.register(
        "db_pool_connections",
        "Database pool connections: in_use, idle, and requests waiting",
        pool.clone(),
    );
    for state in ["in_use", "idle", "waiting"] {
        pool.get_or_create(&State { state }).set(0);
    }
    for reason in ["unauthenticated", "forbidden"] {
        refused.get_or_create(&Reason { reason }).inc_by(0);
    }
    Metrics {
        registry,
        requests,
        latency,
        operations,
        refused,
        instantiation,
        store_errors,
        pool,
    }
});

/// Record one served request.
pub fn request(path: &str, method: &str, status: u16, elapsed: Duration) {
    let m = &*METRICS;
    let route = route_template(path);
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    };
    m.requests
        .get_or_create(&RequestLabels {
            route,
            method: method.to_string(),
            status,
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    match status {
        401 => m
            .refused
            .get_or_create(&Reason {
                reason: "unauthenticated",
            })
            .inc(),
        403 => m
            .refused
            .get_or_create(&Reason {
                reason: "forbidden",
            })
            .inc(),
        _ => 0,
    };
}

/// Record a key operation reported by the component (`kind algorithm`).
pub fn operation(report: &str, success: bool) {
    let mut words = report.split_ascii_whitespace();
    let (Some(kind), algorithm) = (words.next(), words.next().unwrap_or("unknown")) else {
        return;
    };
    // Only the component's own fixed vocabulary becomes a label.
    let bounded = |w: &str| {
        w.len() <= 32
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !bounded(kind) || !bounded(algorithm) {
        return;
    }
    METRICS
        .operations
        .get_or_create(&OperationLabels {
            kind: kind.to_string(),
            algorithm: algorithm.to_string(),
            outcome: if success { "success" } else { "failure" },
        })
        .inc();
}

/// Record the time one component instantiation took.
pub fn instantiation(elapsed: Duration) {
    METRICS.instantiation.observe(elapsed.as_secs_f64());
}

/// Record a store error of `kind` (`conflict`, `not_found`, `unavailable`,
/// `internal`).
pub fn store_error(kind: &'static str) {
    METRICS.store_errors.get_or_create(&Kind { kind }).inc();
}

/// The database pool's state as (in use, idle, waiting).
type PoolProbe = Box<dyn Fn() -> (i64, i64, i64) + Send + Sync>;

/// Where the pool gauges are read from at each scrape (stateful mode only;
/// the memory backend has no pool and its gauges stay at zero).
static POOL_PROBE: OnceLock<PoolProbe> = OnceLock::new();

/// Read the pool gauges through `probe` whenever metrics are rendered.
pub fn watch_pool(probe: impl Fn() -> (i64, i64, i64) + Send + Sync + 'static) {
    let _ = POOL_PROBE.set(Box::new(probe));
}

/// Publish the database pool's state.
fn pool(in_use: i64, idle: i64, waiting: i64) {
    let m = &*METRICS;
    m.pool.get_or_create(&State { state: "in_use" }).set(in_use);
    m.pool.get_or_create(&State { state: "idle" }).set(idle);
    m.pool
        .get_or_create(&State { state: "waiting" })
        .set(waiting);
}

/// The exposition text.
pub fn render() -> String {
    if let Some(probe) = POOL_PROBE.get() {
        let (in_use, idle, waiting) = probe();
        pool(in_use, idle, waiting);
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &METRICS.registry);
    text
}

/// The `/metrics` response (GET or HEAD only).
pub fn response(method: &hyper::Method) -> hyper::Response<HyperOutgoingBody> {
    if method != hyper::Method::GET && method != hyper::Method::HEAD {
        return crate::server::json_error(405, "method_not_allowed", "method not allowed");
    }
    let body = Full::new(Bytes::from(render()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    resp
}

/// Serve `/metrics` alone on its own listener until `shutdown` resolves.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(async move {
            let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let resp = if req.uri().path() == "/metrics" {
                    response(req.method())
                } else {
                    crate::server::json_error(404, "not_found", "only /metrics is served here")
                };
                Ok::<_, std::convert::Infallible>(resp)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The route template of a path, so no key id becomes a label value.
pub fn route_template(path: &str) -> &'static str {
    let trimmed = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let (v1, route) = match trimmed.strip_prefix("/v1/") {
        Some(rest) => (true, rest),
        None => (false, trimmed.trim_start_matches('/')),
    };
    let segments: Vec<&str> = route.split('/').collect();
    macro_rules! pick {
        ($plain:literal, $versioned:literal) => {
            if v1 { $versioned } else { $plain }
        };
    }
    match segments.as_slice() {
        ["health"] if !v1 => "/health",
        ["ready"] if !v1 => "/ready",
        ["live"] if !v1 => "/live",
        ["metrics"] if !v1 => "/metrics",
        ["security", "health"] if v1 => "/v1/security/health",
        ["openapi.json"] if v1 => "/v1/openapi.json",
        ["keys"] => pick!("/keys", "/v1/keys"),
        ["keys", "import"] => pick!("/keys/import", "/v1/keys/import"),
        ["keys", _] => pick!("/keys/{id}", "/v1/keys/{id}"),
        ["keys", _, "lineage"] => pick!("/keys/{id}/lineage", "/v1/keys/{id}/lineage"),
        ["keys", _, "rotate"] => pick!("/keys/{id}/rotate", "/v1/keys/{id}/rotate"),
        ["keys", _, "disable"] => pick!("/keys/{id}/disable", "/v1/keys/{id}/disable"),
        ["keys", _, "enable"] => pick!("/keys/{id}/enable", "/v1/keys/{id}/enable"),
        ["keys", _, "destroy"] => pick!("/keys/{id}/destroy", "/v1/keys/{id}/destroy"),
        ["encrypt"] => pick!("/encrypt", "/v1/encrypt"),
        ["decrypt"] => pick!("/decrypt", "/v1/decrypt"),
        ["rotate"] => pick!("/rotate", "/v1/rotate"),
        ["rewrap"] => pick!("/rewrap", "/v1/rewrap"),
        ["audit"] => pick!("/audit", "/v1/audit"),
        ["data-keys"] => pick!("/data-keys", "/v1/data-keys"),
        [op, "batch"] => match *op {
            "encrypt" => pick!("/encrypt/batch", "/v1/encrypt/batch"),
            "decrypt" => pick!("/decrypt/batch", "/v1/decrypt/batch"),
            "rewrap" => pick!("/rewrap/batch", "/v1/rewrap/batch"),
            _ => "other",
        },
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_never_become_label_values() {
        let id = "0190c9a8-0000-7000-8000-000000000000";
        assert_eq!(route_template(&format!("/v1/keys/{id}")), "/v1/keys/{id}");
        assert_eq!(
            route_template(&format!("/keys/{id}/lineage/")),
            "/keys/{id}/lineage"
        );
        assert_eq!(route_template(&format!("/v1/{id}")), "other");
        assert_eq!(route_template("/v1/health"), "other");
        assert_eq!(route_template("/health"), "/health");
    }

    #[test]
    fn operation_reports_outside_the_vocabulary_are_dropped() {
        operation("encrypt aes-256-gcm", true);
        operation("Encrypt{evil=\"1\"} x", true);
        let text = render();
        assert!(text.contains("kind=\"encrypt\",algorithm=\"aes-256-gcm\""));
        assert!(!text.contains("evil"));
    }
}
