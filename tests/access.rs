//! End-to-end access control and operator surface: tokens against the
//! real host, refused attempts in the log and in `/metrics`, request ids.

use std::collections::HashMap;

use qimem_tests::{Host, test_tokens_json, token};
use serde_json::{Value, json};

fn secured() -> Host {
    Host::start(&[("QIMEM_AUTH_TOKENS", &test_tokens_json())])
}

/// The `/metrics` samples, parsed with a Prometheus text parser, keyed by
/// name and sorted labels.
fn metrics(host: &Host) -> HashMap<String, f64> {
    let (status, headers, text) = host.request("GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains("openmetrics-text")),
        "{headers:?}"
    );
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            Some((format!("{}{{{}}}", s.metric, labels.join(",")), value))
        })
        .collect()
}

fn sample(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[test]
fn every_scope_reaches_exactly_its_routes_on_the_real_host() {
    let host = secured();
    let (status, key) = host.call_as(token("admin"), "POST", "/v1/keys", &json!({}));
    assert_eq!(status, 201);
    let id = key["key_id"].as_str().unwrap().to_string();
    let (_, enc) = host.call_as(
        token("enc"),
        "POST",
        "/v1/encrypt",
        &json!({"key_id": id, "input": "x"}),
    );
    let envelope = enc["envelope"].as_str().unwrap().to_string();

    let routes: Vec<(&str, String, Value, &str)> = vec![
        ("POST", "/v1/keys".into(), json!({}), "admin"),
        ("GET", "/v1/keys".into(), json!({}), "reader"),
        ("GET", format!("/v1/keys/{id}"), json!({}), "reader"),
        ("GET", format!("/keys/{id}/lineage"), json!({}), "reader"),
        ("GET", "/v1/audit".into(), json!({}), "reader"),
        (
            "POST",
            "/v1/encrypt".into(),
            json!({"key_id": id, "input": "y"}),
            "enc",
        ),
        ("POST", "/decrypt".into(), json!({"input": envelope}), "dec"),
    ];
    for (method, path, body, allowed) in &routes {
        for who in ["admin", "reader", "enc", "dec", "wrap"] {
            let (status, resp) = host.call_as(token(who), method, path, body);
            if who == *allowed {
                assert!(status < 400, "{who} on {method} {path}: {status} {resp}");
            } else {
                assert_eq!(status, 403, "{who} on {method} {path}: {resp}");
                assert_eq!(resp["error"]["code"], "forbidden");
            }
        }
    }
    // Rotation last: it changes the key the other routes use.
    for who in ["reader", "enc", "dec", "wrap"] {
        let path = format!("/v1/keys/{id}/rotate");
        assert_eq!(host.call_as(token(who), "POST", &path, &json!({})).0, 403);
    }
    let (status, _) = host.call_as(token("admin"), "POST", "/v1/rotate", &json!({"key_id": id}));
    assert_eq!(status, 200);
}

#[test]
fn refused_attempts_are_logged_counted_and_never_echo_the_token() {
    let host = secured();
    let before = metrics(&host);
    let guess = "tok-guess-Tk2x7";
    let recased = token("admin").to_uppercase();
    let refusals: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![], 401),
        (vec![("authorization", format!("Bearer {guess}"))], 401),
        (vec![("authorization", format!("Bearer {recased}"))], 401),
        (
            vec![("authorization", format!("Basic {}", token("admin")))],
            401,
        ),
        (vec![("authorization", "Bearer".to_string())], 401),
        (
            vec![("authorization", format!("Bearer {}", token("reader")))],
            403,
        ),
    ];
    for (i, (headers, expected)) in refusals.iter().enumerate() {
        let request_id = format!("refusal-{i}");
        let mut all: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.push(("x-request-id", &request_id));
        all.push(("content-type", "application/json"));
        let (status, resp_headers, body) = host.request("POST", "/v1/keys", &all, b"{}");
        assert_eq!(status, *expected, "{headers:?}: {body}");
        assert!(!body.contains(guess) && !body.contains("admin") && !body.contains("reader"));
        let echoed = resp_headers.iter().find(|(k, _)| k == "x-request-id");
        assert_eq!(echoed.map(|(_, v)| v.as_str()), Some(request_id.as_str()));
    }

    let after = metrics(&host);
    let unauth = "qimem_auth_refused_total{reason=unauthenticated}";
    let forbidden = "qimem_auth_refused_total{reason=forbidden}";
    assert_eq!(sample(&after, unauth) - sample(&before, unauth), 5.0);
    assert_eq!(sample(&after, forbidden) - sample(&before, forbidden), 1.0);
    let requests = "qimem_http_requests_total{method=POST,route=/v1/keys,status=401}";
    assert_eq!(sample(&after, requests), 5.0);

    let logs = host.stop();
    for i in 0..6 {
        let id = format!("refusal-{i}");
        let refused: Vec<Value> = logs
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["fields"]["request_id"] == id.as_str())
            .collect();
        let host_line = refused
            .iter()
            .find(|l| l["fields"]["message"] == "refused request")
            .unwrap_or_else(|| panic!("no refusal logged for {id}: {refused:?}"));
        assert!(
            host_line["fields"]["peer"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        assert_eq!(host_line["fields"]["route"], "/v1/keys");
        for line in &refused {
            for key in ["timestamp", "level", "target"] {
                assert!(line.get(key).is_some(), "{line}");
            }
        }
        if i == 5 {
            assert!(
                refused.iter().any(|l| l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("for token reader"))),
                "the component names the known token: {refused:?}"
            );
        }
    }
    for line in &logs {
        assert!(!line.contains(guess) && !line.contains(&recased), "{line}");
    }
}

#[test]
fn metrics_count_requests_and_operations_by_kind_and_algorithm() {
    let host = Host::start(&[]);
    let before = metrics(&host);
    let (_, key) = host.post("/v1/keys", &json!({"algorithm": "xchacha20-poly1305"}));
    let id = key["key_id"].as_str().unwrap();
    for _ in 0..3 {
        let (status, _) = host.post("/v1/encrypt", &json!({"key_id": id, "input": "m"}));
        assert_eq!(status, 200);
    }
    let (status, _) = host.post("/v1/decrypt", &json!({"input": "AAAA"}));
    assert_eq!(status, 422);

    let after = metrics(&host);
    let enc = "qimem_operations_total{algorithm=xchacha20-poly1305,kind=encrypt,outcome=success}";
    assert_eq!(sample(&after, enc) - sample(&before, enc), 3.0);
    let create = "qimem_operations_total{algorithm=xchacha20-poly1305,kind=create,outcome=success}";
    assert_eq!(sample(&after, create) - sample(&before, create), 1.0);
    let failed = "qimem_operations_total{algorithm=unknown,kind=decrypt,outcome=failure}";
    assert_eq!(sample(&after, failed), 1.0);
    let req = "qimem_http_requests_total{method=POST,route=/v1/encrypt,status=200}";
    assert_eq!(sample(&after, req), 3.0);
    assert!(sample(&after, "qimem_db_pool_connections{state=in_use}") >= 0.0);
    let text = host.request("GET", "/metrics", &[], b"").2;
    assert!(text.contains("qimem_component_instantiation_seconds_count"));
    assert!(text.contains("qimem_http_request_duration_seconds_bucket"));
    assert!(!text.contains(id), "key ids are never label values");
}

#[test]
fn metrics_can_have_their_own_address() {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let host = Host::start(&[("QIMEM_METRICS_BIND", &bind)]);
    // The API address no longer serves them; the metrics address does.
    assert_eq!(host.request("GET", "/metrics", &[], b"").0, 404);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(format!("http://{bind}/metrics"))
        .call()
        .expect("metrics address answers");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.body_mut()
            .read_to_string()
            .unwrap()
            .contains("qimem_http_requests")
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn data_plane_events_reach_the_audit_trail_with_the_token_name() {
    let host = Host::start(&[
        ("QIMEM_AUTH_TOKENS", &test_tokens_json()),
        ("QIMEM_AUDIT_DATA_PLANE", "true"),
    ]);
    let all = token("all");
    let (_, key) = host.call_as(all, "POST", "/v1/keys", &json!({}));
    let id = key["key_id"].as_str().unwrap();
    let (_, enc) = host.call_as(
        token("enc"),
        "POST",
        "/v1/encrypt",
        &json!({"key_id": id, "input": "q"}),
    );
    assert!(enc["envelope"].is_string());
    let (status, _) = host.call_as(
        token("dec"),
        "POST",
        "/v1/decrypt",
        &json!({"input": enc["envelope"], "aad_b64": "AAAA"}),
    );
    assert_eq!(status, 422);

    // The events are written by a background task: wait for them.
    let mut actions = Vec::new();
    for _ in 0..100 {
        let (_, trail) = host.call_as(token("reader"), "GET", "/v1/audit", &json!({}));
        actions = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["action"].as_str().unwrap(),
                    e["actor"].as_str().unwrap(),
                    e["outcome"].as_str().unwrap()
                )
            })
            .collect();
        if actions.len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        actions.contains(&"created all success".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"encrypted enc success".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"decrypted dec failure: decryption_failed".to_string()),
        "{actions:?}"
    );
}
