//! Every route, driven natively over a memory store.

use serde_json::Value;

use super::*;
use crate::ops::testing::master_keys;
use crate::store::MemoryStore;

struct Api {
    store: MemoryStore,
    keys: MasterKeys,
}

impl Api {
    fn new() -> Api {
        Api {
            store: MemoryStore::new(),
            keys: master_keys(),
        }
    }

    fn call(&self, method: &str, target: &str, body: &str) -> (u16, Value) {
        self.call_typed(method, target, Some("application/json"), body)
    }

    fn call_typed(&self, method: &str, target: &str, ct: Option<&str>, body: &str) -> (u16, Value) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let ctx = Context {
            store: &self.store,
            keys: Ok(&self.keys),
            caller: None,
            audit_data_plane: false,
        };
        let req = Request {
            method,
            path,
            query,
            content_type: ct,
            body: body.as_bytes(),
        };
        let resp = handle(&ctx, &req);
        (resp.status, resp.body)
    }

    fn create(&self) -> Value {
        let (status, key) = self.call("POST", "/keys", "{}");
        assert_eq!(status, 201);
        key
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn create_encrypt_decrypt_round_trip() {
    let api = Api::new();
    let key = api.create();
    assert_eq!(key["version"], 1);
    assert_eq!(key["state"], "active");
    assert_eq!(key["algorithm"], "aes-256-gcm");
    assert!(key["created_at"].as_str().unwrap().ends_with('Z'));

    let id = key["key_id"].as_str().unwrap();
    let (status, enc) = api.call(
        "POST",
        "/encrypt",
        &format!(r#"{{"key_id":"{id}","input":"hello"}}"#),
    );
    assert_eq!(status, 200);
    let env = enc["envelope"].as_str().unwrap();
    let (status, dec) = api.call("POST", "/v1/decrypt", &format!(r#"{{"input":"{env}"}}"#));
    assert_eq!(status, 200);
    assert_eq!(dec["plaintext"], "hello");
    assert_eq!(dec["key_id"], id);
}

#[test]
fn binary_plaintext_and_associated_data() {
    let api = Api::new();
    let id = api.create()["key_id"].as_str().unwrap().to_string();
    let body = format!(r#"{{"key_id":"{id}","input_b64":"/wA=","aad_b64":"Y3R4"}}"#);
    let (_, enc) = api.call("POST", "/v1/encrypt", &body);
    let env = enc["envelope"].as_str().unwrap();

    let (status, dec) = api.call(
        "POST",
        "/decrypt",
        &format!(r#"{{"input":"{env}","aad_b64":"Y3R4"}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(dec["plaintext_b64"], "/wA=");
    assert!(dec.get("plaintext").is_none());

    let (status, dec) = api.call("POST", "/decrypt", &format!(r#"{{"input":"{env}"}}"#));
    assert_eq!((status, code(&dec)), (422, "decryption_failed"));
}

#[test]
fn output_base64_is_honoured_for_text() {
    let api = Api::new();
    let id = api.create()["key_id"].as_str().unwrap().to_string();
    let (_, enc) = api.call(
        "POST",
        "/encrypt",
        &format!(r#"{{"key_id":"{id}","input":"hi"}}"#),
    );
    let env = enc["envelope"].as_str().unwrap();
    let body = format!(r#"{{"input":"{env}","output":"base64"}}"#);
    let (_, dec) = api.call("POST", "/decrypt", &body);
    assert_eq!(dec["plaintext_b64"], "aGk=");
}

#[test]
fn rotate_retires_the_old_key_and_lineage_lists_both() {
    let api = Api::new();
    let v1 = api.create();
    let id = v1["key_id"].as_str().unwrap();
    let lineage = v1["lineage_id"].as_str().unwrap();
    let (_, enc) = api.call(
        "POST",
        "/encrypt",
        &format!(r#"{{"key_id":"{id}","input":"old"}}"#),
    );

    let (status, v2) = api.call("POST", "/rotate", &format!(r#"{{"key_id":"{id}"}}"#));
    assert_eq!(status, 200);
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["parent_id"], id);
    let v2_id = v2["key_id"].as_str().unwrap();

    let (status, err) = api.call(
        "POST",
        "/encrypt",
        &format!(r#"{{"key_id":"{id}","input":"x"}}"#),
    );
    assert_eq!((status, code(&err)), (409, "conflict"));
    assert_eq!(err["error"]["current_key_id"], v2_id);
    let (status, err) = api.call("POST", &format!("/v1/keys/{id}/rotate"), "");
    assert_eq!(
        (status, err["error"]["current_key_id"].as_str()),
        (409, Some(v2_id))
    );

    let env = enc["envelope"].as_str().unwrap();
    let (status, dec) = api.call("POST", "/decrypt", &format!(r#"{{"input":"{env}"}}"#));
    assert_eq!((status, dec["plaintext"].as_str()), (200, Some("old")));

    let (status, enc) = api.call(
        "POST",
        "/encrypt",
        &format!(r#"{{"key_id":"{lineage}","input":"new"}}"#),
    );
    assert_eq!((status, enc["key_id"].as_str()), (200, Some(v2_id)));

    let (status, lin) = api.call("GET", &format!("/v1/keys/{id}/lineage"), "");
    assert_eq!(status, 200);
    let versions: Vec<_> = lin["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["version"].clone())
        .collect();
    assert_eq!(versions, vec![1, 2]);
}

#[test]
fn get_and_list_show_metadata_only() {
    let api = Api::new();
    let key = api.create();
    let id = key["key_id"].as_str().unwrap();
    let (status, got) = api.call("GET", &format!("/keys/{id}"), "");
    assert_eq!((status, &got), (200, &key));
    let fields: Vec<_> = got.as_object().unwrap().keys().cloned().collect();
    assert!(
        fields
            .iter()
            .all(|f| !f.contains("material") && !f.contains("sealed"))
    );

    api.create();
    api.create();
    let (status, page) = api.call("GET", "/v1/keys?limit=2", "");
    assert_eq!(status, 200);
    assert_eq!(page["keys"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    let (_, rest) = api.call("GET", &format!("/v1/keys?limit=2&after={next}"), "");
    assert_eq!(rest["keys"].as_array().unwrap().len(), 1);
    assert!(rest["next"].is_null());
}

#[test]
fn create_accepts_empty_bodies_algorithms_and_labels() {
    let api = Api::new();
    assert_eq!(api.call_typed("POST", "/keys", None, "").0, 201);
    let (status, key) = api.call(
        "POST",
        "/v1/keys",
        r#"{"algorithm":"xchacha20-poly1305","labels":{"team":"pay"}}"#,
    );
    assert_eq!(status, 201);
    assert_eq!(key["algorithm"], "xchacha20-poly1305");
    assert_eq!(key["labels"]["team"], "pay");
    let (status, err) = api.call("POST", "/keys", r#"{"algorithm":"rot13"}"#);
    assert_eq!((status, code(&err)), (400, "invalid_input"));
}

#[test]
fn bad_requests_get_clear_4xx_errors() {
    let api = Api::new();
    let id = api.create()["key_id"].as_str().unwrap().to_string();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/encrypt", "{not json".into(), 400, "invalid_input"),
        (
            "/encrypt",
            format!(r#"{{"key_id":"{id}"}}"#),
            400,
            "invalid_input",
        ),
        (
            "/encrypt",
            format!(r#"{{"key_id":"{id}","input":"a","input_b64":"YQ=="}}"#),
            400,
            "invalid_input",
        ),
        (
            "/encrypt",
            format!(r#"{{"key_id":"{id}","input_b64":"@@"}}"#),
            400,
            "invalid_input",
        ),
        (
            "/encrypt",
            format!(r#"{{"key_id":"{id}","input":"a","extra":1}}"#),
            400,
            "invalid_input",
        ),
        (
            "/encrypt",
            r#"{"key_id":"nope","input":"a"}"#.into(),
            400,
            "invalid_input",
        ),
        (
            "/encrypt",
            r#"{"key_id":"00000000-0000-0000-0000-000000000001","input":"a"}"#.into(),
            404,
            "not_found",
        ),
        (
            "/decrypt",
            r#"{"input":"not base64!"}"#.into(),
            400,
            "invalid_input",
        ),
        (
            "/decrypt",
            r#"{"input":"AQE="}"#.into(),
            422,
            "decryption_failed",
        ),
        ("/decrypt", "[]".into(), 400, "invalid_input"),
        (
            "/rotate",
            r#"{"key_id":"00000000-0000-0000-0000-000000000001"}"#.into(),
            404,
            "not_found",
        ),
    ];
    for (path, body, status, want) in cases {
        let (got, err) = api.call("POST", path, &body);
        assert_eq!((got, code(&err)), (status, want), "{path} {body}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    let (status, err) = api.call_typed("POST", "/encrypt", Some("text/plain"), "{}");
    assert_eq!((status, code(&err)), (415, "unsupported_media_type"));
    let (status, err) = api.call("DELETE", "/keys", "");
    assert_eq!((status, code(&err)), (405, "method_not_allowed"));
    let (status, err) = api.call("GET", "/nowhere", "");
    assert_eq!((status, code(&err)), (404, "not_found"));
    let (status, _) = api.call("GET", "/keys?limit=0", "");
    assert_eq!(status, 400);
}

#[test]
fn health_reports_each_failing_dependency() {
    let api = Api::new();
    assert_eq!(api.call("GET", "/health", "").0, 200);
    assert_eq!(api.call("GET", "/live", "").0, 200);
    let (status, sec) = api.call("GET", "/v1/security/health", "");
    assert_eq!(status, 200);
    assert_eq!(
        sec["master_key_fingerprint"],
        api.keys.current_fingerprint()
    );

    let missing = KmsError::Internal("master_key is not configured".into());
    let ctx = Context {
        store: &api.store,
        keys: Err(&missing),
        caller: None,
        audit_data_plane: false,
    };
    let req = Request {
        method: "GET",
        path: "/health",
        query: "",
        content_type: None,
        body: b"",
    };
    let resp = handle(&ctx, &req);
    assert_eq!(resp.status, 503);
    assert_eq!(
        resp.body["checks"]["master_key"],
        "master_key is not configured"
    );
    let req = Request {
        method: "POST",
        path: "/keys",
        query: "",
        content_type: None,
        body: b"",
    };
    let resp = handle(&ctx, &req);
    assert_eq!(
        (resp.status, resp.body["error"]["message"].as_str()),
        (500, Some("internal error"))
    );
}

#[test]
fn the_audit_trail_records_lifecycle_events_per_key() {
    let api = Api::new();
    let v1 = api.create();
    let id = v1["key_id"].as_str().unwrap();
    let (_, v2) = api.call("POST", "/rotate", &format!(r#"{{"key_id":"{id}"}}"#));
    api.create();

    let (status, all) = api.call("GET", "/v1/audit", "");
    assert_eq!(status, 200);
    assert_eq!(all["events"].as_array().unwrap().len(), 3);
    let (status, mine) = api.call(
        "GET",
        &format!("/v1/audit?key_id={}", v2["key_id"].as_str().unwrap()),
        "",
    );
    assert_eq!(status, 200);
    let events = mine["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["action"], "rotated");
    assert_eq!(events[0]["lineage_id"], v1["lineage_id"]);
    let (_, page) = api.call("GET", "/v1/audit?limit=2", "");
    let (_, rest) = api.call("GET", &format!("/v1/audit?after={}", page["next"]), "");
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(api.call("GET", "/v1/audit?limit=5000", "").0, 400);
}

mod v1;
