//! Access control: the scope table, token checks and the lineage restriction.

use serde_json::{Value, json};

use super::*;
use crate::http::api::{Context, Request, handle};
use crate::ops::testing::master_keys;
use crate::store::MemoryStore;

/// One token per scope, named after it, plus one with every scope.
fn table() -> (Access, Vec<(Scope, String)>) {
    let mut entries = Vec::new();
    let mut tokens = Vec::new();
    for scope in Scope::ALL {
        let token = format!("tok-{}", scope.name().replace(':', "-"));
        entries.push(json!({
            "name": scope.name(), "sha256": hash_token(&token), "scopes": [scope.name()]
        }));
        tokens.push((scope, token));
    }
    let access = Access::parse(&Value::Array(entries).to_string()).unwrap();
    (access, tokens)
}

/// Every route the API serves today (and those issue 5 adds), with the
/// one scope that may call it.
const ROUTES: &[(&str, &str, Scope)] = &[
    ("POST", "/keys", Scope::KeysAdmin),
    ("POST", "/v1/keys", Scope::KeysAdmin),
    ("GET", "/v1/keys", Scope::KeysRead),
    (
        "GET",
        "/v1/keys/0190c9a8-0000-7000-8000-000000000000",
        Scope::KeysRead,
    ),
    (
        "GET",
        "/keys/0190c9a8-0000-7000-8000-000000000000/lineage",
        Scope::KeysRead,
    ),
    (
        "POST",
        "/v1/keys/0190c9a8-0000-7000-8000-000000000000/rotate",
        Scope::KeysAdmin,
    ),
    ("POST", "/v1/rotate", Scope::KeysAdmin),
    ("GET", "/v1/audit", Scope::KeysRead),
    ("POST", "/encrypt", Scope::Encrypt),
    ("POST", "/v1/encrypt", Scope::Encrypt),
    ("POST", "/v1/decrypt", Scope::Decrypt),
    ("POST", "/v1/rewrap", Scope::Rewrap),
    ("POST", "/v1/keys/import", Scope::KeysAdmin),
    (
        "POST",
        "/v1/keys/0190c9a8-0000-7000-8000-000000000000/disable",
        Scope::KeysAdmin,
    ),
    (
        "POST",
        "/v1/keys/0190c9a8-0000-7000-8000-000000000000/enable",
        Scope::KeysAdmin,
    ),
    (
        "POST",
        "/v1/keys/0190c9a8-0000-7000-8000-000000000000/destroy",
        Scope::KeysAdmin,
    ),
    ("POST", "/v1/data-key", Scope::Encrypt),
    ("POST", "/v1/data-key/wrapped", Scope::Encrypt),
    ("POST", "/v1/batch/encrypt", Scope::Encrypt),
    ("POST", "/v1/batch/decrypt", Scope::Decrypt),
    ("POST", "/v1/batch/rewrap", Scope::Rewrap),
    ("POST", "/v1/batch/import", Scope::KeysAdmin),
    ("POST", "/v1/some-future-route", Scope::KeysAdmin),
    (
        "DELETE",
        "/v1/keys/0190c9a8-0000-7000-8000-000000000000",
        Scope::KeysAdmin,
    ),
];

#[test]
fn each_scope_allows_exactly_its_routes() {
    let (access, tokens) = table();
    for (method, path, needed) in ROUTES {
        assert_eq!(
            required_scope(method, path),
            Some(*needed),
            "{method} {path}"
        );
        for (scope, token) in &tokens {
            let header = format!("Bearer {token}");
            let outcome = access.admit(method, path, Some(&header));
            if scope == needed {
                assert_eq!(outcome.map(|c| c.name), Ok(scope.name().to_string()));
            } else {
                assert_eq!(
                    outcome,
                    Err(Refusal::Forbidden(scope.name().to_string())),
                    "{} on {method} {path}",
                    scope.name()
                );
            }
        }
    }
}

#[test]
fn health_metrics_and_the_openapi_document_need_no_token() {
    let (access, _) = table();
    for path in [
        "/health",
        "/ready",
        "/live",
        "/metrics",
        "/v1/security/health",
        "/v1/openapi.json",
        "/health/",
    ] {
        assert_eq!(required_scope("GET", path), None, "{path}");
        assert!(access.admit("GET", path, None).is_ok(), "{path}");
    }
}

#[test]
fn missing_unknown_malformed_and_recased_tokens_are_unauthenticated() {
    let (access, tokens) = table();
    let good = &tokens[0].1;
    let upper = good.to_uppercase();
    for header in [
        None,
        Some(String::new()),
        Some("Bearer".to_string()),
        Some("Bearer ".to_string()),
        Some("Bearer not-a-token".to_string()),
        Some(format!("Basic {good}")),
        Some(good.clone()),
        Some(format!("Bearer {upper}")),
        Some(format!("Bearer {good}x")),
        Some(format!("Bearer {good} {good}")),
        Some(format!("Bearer {}", hash_token(good))),
    ] {
        assert_eq!(
            access.admit("POST", "/v1/keys", header.as_deref()),
            Err(Refusal::Unauthenticated),
            "{header:?}"
        );
    }
    // The scheme itself is case-insensitive.
    assert!(
        access
            .admit("POST", "/v1/keys", Some(&format!("bEaReR {good}")))
            .is_ok()
    );
}

#[test]
fn without_tokens_everyone_is_anonymous() {
    let access = Access::default();
    assert!(!access.enabled());
    assert_eq!(
        access.admit("POST", "/v1/keys", None),
        Ok(Caller::anonymous())
    );
}

#[test]
fn a_bad_token_table_is_refused_without_echoing_hashes() {
    for text in [
        "not json",
        r#"[{"name":"a","sha256":"zz","scopes":[]}]"#,
        r#"[{"name":"a","sha256":"00","scopes":["encrypt"]}]"#,
        r#"[{"name":"","sha256":"","scopes":[]}]"#,
        r#"[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","scopes":["root"]}]"#,
        r#"[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","scopes":[],"lineages":["x"]}]"#,
        r#"[{"name":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","scopes":[],"extra":1}]"#,
    ] {
        let err = Access::parse(text).expect_err(text).to_string();
        assert!(err.starts_with("auth_tokens"), "{err}");
        assert!(!err.contains("0000000000"), "{err}");
    }
}

/// A memory-backed API with one lineage-restricted token.
struct Restricted {
    store: MemoryStore,
    keys: crate::seal::MasterKeys,
}

impl Restricted {
    fn call(&self, caller: &Caller, method: &str, target: &str, body: &Value) -> (u16, Value) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let body = body.to_string();
        let ctx = Context {
            store: &self.store,
            keys: Ok(&self.keys),
            caller: Some(caller),
            audit_data_plane: true,
        };
        let req = Request {
            method,
            path,
            query,
            content_type: Some("application/json"),
            body: body.as_bytes(),
        };
        let resp = handle(&ctx, &req);
        (resp.status, resp.body)
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[test]
fn a_token_for_one_lineage_cannot_touch_another() {
    let api = Restricted {
        store: MemoryStore::new(),
        keys: master_keys(),
    };
    let admin = Caller::anonymous();
    let (_, mine) = api.call(&admin, "POST", "/v1/keys", &json!({}));
    let (_, theirs) = api.call(&admin, "POST", "/v1/keys", &json!({}));
    let (mine_id, theirs_id) = (text(&mine["key_id"]), text(&theirs["key_id"]));
    let (_, their_env) = api.call(
        &admin,
        "POST",
        "/v1/encrypt",
        &json!({"key_id": theirs_id, "input": "x"}),
    );
    let their_env = text(&their_env["envelope"]);

    let caller = Caller {
        name: "tenant-a".into(),
        lineages: Some([Uuid::try_parse(&text(&mine["lineage_id"])).unwrap()].into()),
    };
    // Its own lineage: every use works, including by lineage id.
    let (status, env) = api.call(
        &caller,
        "POST",
        "/v1/encrypt",
        &json!({"key_id": mine_id, "input": "hi"}),
    );
    assert_eq!(status, 200, "{env}");
    let (status, _) = api.call(
        &caller,
        "POST",
        "/v1/decrypt",
        &json!({"input": text(&env["envelope"])}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        api.call(&caller, "GET", &format!("/v1/keys/{mine_id}"), &json!({}))
            .0,
        200
    );
    let own_list = format!("/v1/keys?lineage_id={mine_id}");
    assert_eq!(api.call(&caller, "GET", &own_list, &json!({})).0, 200);

    // Another lineage, or no lineage named: 403 and nothing happens.
    let refused = [
        (
            "POST",
            "/v1/encrypt".to_string(),
            json!({"key_id": theirs_id, "input": "x"}),
        ),
        (
            "POST",
            "/v1/decrypt".to_string(),
            json!({"input": their_env}),
        ),
        ("GET", format!("/v1/keys/{theirs_id}"), json!({})),
        ("GET", format!("/v1/keys/{theirs_id}/lineage"), json!({})),
        ("POST", format!("/v1/keys/{theirs_id}/rotate"), json!({})),
        (
            "POST",
            "/v1/rotate".to_string(),
            json!({"key_id": theirs_id}),
        ),
        ("GET", "/v1/keys".to_string(), json!({})),
        ("GET", "/v1/audit".to_string(), json!({})),
        ("POST", "/v1/keys".to_string(), json!({})),
    ];
    for (method, path, body) in refused {
        let (status, err) = api.call(&caller, method, &path, &body);
        assert_eq!(
            (status, text(&err["error"]["code"])),
            (403, "forbidden".into()),
            "{path}"
        );
    }
    let (_, theirs_now) = api.call(&admin, "GET", &format!("/v1/keys/{theirs_id}"), &json!({}));
    assert_eq!(
        theirs_now["state"], "active",
        "the refused rotation did not happen"
    );
}

#[test]
fn data_plane_events_carry_the_actor_and_the_outcome() {
    let api = Restricted {
        store: MemoryStore::new(),
        keys: master_keys(),
    };
    let caller = Caller {
        name: "billing".into(),
        lineages: None,
    };
    let (_, key) = api.call(&caller, "POST", "/v1/keys", &json!({}));
    let id = text(&key["key_id"]);
    let (_, env) = api.call(
        &caller,
        "POST",
        "/v1/encrypt",
        &json!({"key_id": id, "input": "a"}),
    );
    let env = text(&env["envelope"]);
    let (status, _) = api.call(
        &caller,
        "POST",
        "/v1/decrypt",
        &json!({"input": env, "aad_b64": "AAAA"}),
    );
    assert_eq!(status, 422);

    let (_, trail) = api.call(&caller, "GET", "/v1/audit", &json!({}));
    let events = trail["events"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| (text(&e["action"]), text(&e["actor"]), text(&e["outcome"])))
        .collect();
    assert!(summary.contains(&("created".into(), "billing".into(), "success".into())));
    assert!(summary.contains(&("encrypted".into(), "billing".into(), "success".into())));
    let failed = events
        .iter()
        .find(|e| e["action"] == "decrypted")
        .expect("decrypt event");
    assert!(text(&failed["outcome"]).starts_with("failure"));
    assert_eq!(
        text(&failed["key_id"]),
        id,
        "a failure names the key it was for"
    );
}
