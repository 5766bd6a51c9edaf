//! The routes that exist only under `/v1/`: import, lifecycle, rewrap,
//! data keys and batches.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Api, code};

fn post(api: &Api, path: &str, body: &Value) -> (u16, Value) {
    api.call("POST", path, &body.to_string())
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn new_key(api: &Api, algorithm: &str) -> Value {
    let (status, key) = post(api, "/v1/keys", &json!({ "algorithm": algorithm }));
    assert_eq!(status, 201);
    key
}

fn encrypt(api: &Api, key: &str, plaintext: &[u8], aad: &[u8]) -> String {
    let body = json!({
        "key_id": key,
        "input_b64": STANDARD.encode(plaintext),
        "aad_b64": STANDARD.encode(aad),
    });
    let (status, out) = post(api, "/v1/encrypt", &body);
    assert_eq!(status, 200, "{out}");
    s(&out["envelope"])
}

#[test]
fn import_answers_like_create_and_checks_the_length() {
    let api = Api::new();
    let material = STANDARD.encode([7u8; 32]);
    let body = json!({ "material_b64": material, "labels": { "origin": "hsm" } });
    let (status, key) = post(&api, "/v1/keys/import", &body);
    assert_eq!(status, 201, "{key}");
    assert_eq!(
        (key["version"].as_u64(), s(&key["state"])),
        (Some(1), "active".into())
    );
    assert_eq!(key["labels"]["origin"], "hsm");
    assert!(!key.to_string().contains(&material));

    let siv = json!({ "material_b64": STANDARD.encode([1u8; 64]), "algorithm": "aes-256-siv" });
    assert_eq!(post(&api, "/v1/keys/import", &siv).0, 201);
    for (bytes, alg) in [
        (31, "aes-256-gcm"),
        (64, "xchacha20-poly1305"),
        (32, "aes-256-siv"),
    ] {
        let body = json!({ "material_b64": STANDARD.encode(vec![1u8; bytes]), "algorithm": alg });
        let (status, err) = post(&api, "/v1/keys/import", &body);
        assert_eq!(
            (status, code(&err)),
            (400, "invalid_input"),
            "{alg} {bytes}"
        );
    }
    for bad in [
        json!({}),
        json!({ "material_b64": "***" }),
        json!({ "material_b64": 5 }),
    ] {
        assert_eq!(post(&api, "/v1/keys/import", &bad).0, 400, "{bad}");
    }
    // Only under /v1/.
    assert_eq!(post(&api, "/keys/import", &body).0, 404);
    assert_eq!(api.call("GET", "/v1/keys/import", "").0, 405);
}

#[test]
fn disable_enable_and_destroy_walk_the_key_through_its_states() {
    let api = Api::new();
    let key = new_key(&api, "aes-256-gcm");
    let id = s(&key["key_id"]);
    let env = encrypt(&api, &id, b"data", b"");
    let dec = json!({ "input": env });

    let (status, k) = post(&api, &format!("/v1/keys/{id}/disable"), &json!({}));
    assert_eq!((status, s(&k["state"])), (200, "disabled".into()));
    let (status, err) = post(&api, "/v1/decrypt", &dec);
    assert_eq!((status, code(&err)), (409, "key_not_usable"));
    let (status, k) = api.call("POST", &format!("/v1/keys/{id}/enable"), "");
    assert_eq!((status, s(&k["state"])), (200, "active".into()));
    assert_eq!(post(&api, "/v1/decrypt", &dec).0, 200);

    let destroy = format!("/v1/keys/{id}/destroy");
    let (status, err) = post(&api, &destroy, &json!({}));
    assert_eq!((status, code(&err)), (400, "invalid_input"));
    let (status, err) = post(&api, &destroy, &json!({ "confirm": id }));
    assert_eq!((status, code(&err)), (409, "conflict"));
    let (status, k) = post(&api, &destroy, &json!({ "confirm": id, "force": true }));
    assert_eq!((status, s(&k["state"])), (200, "destroyed".into()));

    let (status, err) = post(&api, "/v1/decrypt", &dec);
    assert_eq!((status, code(&err)), (410, "key_destroyed"));
    assert_eq!(s(&err["error"]["key_id"]), id);
    assert!(s(&err["error"]["message"]).contains(&id));
    let (status, lineage) = api.call("GET", &format!("/v1/keys/{id}/lineage"), "");
    assert_eq!(status, 200);
    assert_eq!(lineage["keys"][0]["state"], "destroyed");
    let (status, _) = api.call(
        "GET",
        &format!(
            "/v1/keys?state=destroyed&lineage_id={}",
            s(&key["lineage_id"])
        ),
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(api.call("GET", &destroy, "").0, 405);
}

#[test]
fn rewrap_moves_envelopes_to_the_current_key() {
    let api = Api::new();
    let v1 = new_key(&api, "xchacha20-poly1305");
    let id = s(&v1["key_id"]);
    let env = encrypt(&api, &id, b"payload", b"ctx");
    let (_, v2) = post(&api, &format!("/v1/keys/{id}/rotate"), &json!({}));

    let aad = STANDARD.encode(b"ctx");
    let (status, out) = post(&api, "/v1/rewrap", &json!({ "input": env, "aad_b64": aad }));
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (s(&out["key_id"]), s(&out["previous_key_id"])),
        (s(&v2["key_id"]), id)
    );
    let dec = json!({ "input": out["envelope"], "aad_b64": aad });
    let (status, plain) = post(&api, "/v1/decrypt", &dec);
    assert_eq!((status, s(&plain["plaintext"])), (200, "payload".into()));

    let (status, err) = post(&api, "/v1/rewrap", &json!({ "input": env }));
    assert_eq!((status, code(&err)), (422, "decryption_failed"));
}

#[test]
fn data_keys_come_wrapped_and_optionally_in_plaintext() {
    let api = Api::new();
    let key = new_key(&api, "aes-256-siv");
    let lineage = s(&key["lineage_id"]);
    let aad = STANDARD.encode(b"object-9");
    let (status, dk) = post(
        &api,
        "/v1/data-key",
        &json!({ "key_id": lineage, "aad_b64": aad }),
    );
    assert_eq!(status, 200, "{dk}");
    assert_eq!(s(&dk["key_id"]), s(&key["key_id"]));
    let plain = STANDARD.decode(s(&dk["plaintext_b64"])).unwrap();
    assert_eq!(plain.len(), 32);

    let dec = json!({ "input": dk["wrapped"], "aad_b64": aad, "output": "base64" });
    let (_, opened) = post(&api, "/v1/decrypt", &dec);
    assert_eq!(STANDARD.decode(s(&opened["plaintext_b64"])).unwrap(), plain);

    let (status, only) = post(&api, "/v1/data-key/wrapped", &json!({ "key_id": lineage }));
    assert_eq!(status, 200);
    assert!(only.get("plaintext_b64").is_none());
    assert!(only["wrapped"].is_string());
    let (status, err) = post(&api, "/v1/data-key", &json!({ "key_id": "nope" }));
    assert_eq!((status, code(&err)), (400, "invalid_input"));
}

#[test]
fn batches_answer_every_item_in_order() {
    let api = Api::new();
    let id = s(&new_key(&api, "aes-256-gcm")["key_id"]);
    let items = json!({ "items": [
        { "key_id": id, "input": "one" },
        { "key_id": id, "input_b64": "" },
        { "key_id": id, "input": "three", "aad_b64": "eA==" },
    ]});
    let (status, out) = post(&api, "/v1/batch/encrypt", &items);
    assert_eq!(status, 200, "{out}");
    let envs: Vec<Value> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["envelope"].clone())
        .collect();
    assert_eq!(envs.len(), 3);

    let items = json!({ "items": [
        { "input": envs[0] },
        { "input": envs[1], "output": "base64" },
        { "input": envs[2] },
        { "input": "AAAA" },
        { "bogus": 1 },
    ]});
    let (status, out) = post(&api, "/v1/batch/decrypt", &items);
    assert_eq!(status, 400, "{out}");
    let r = out["results"].as_array().unwrap();
    assert_eq!(r[0]["plaintext"], "one");
    assert_eq!(r[1]["plaintext_b64"], "");
    assert_eq!(code(&r[2]), "decryption_failed");
    assert_eq!(code(&r[3]), "decryption_failed");
    assert_eq!(code(&r[4]), "invalid_input");

    let (status, out) = post(
        &api,
        "/v1/batch/rewrap",
        &json!({ "items": [{ "input": envs[0] }] }),
    );
    assert_eq!(status, 200);
    assert_eq!(s(&out["results"][0]["key_id"]), id);

    let (status, out) = post(&api, "/v1/batch/encrypt", &json!({ "items": [] }));
    assert_eq!(
        (status, out["results"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[test]
fn a_batch_over_the_cap_is_413_and_the_cap_itself_is_fine() {
    let api = Api::new();
    let id = s(&new_key(&api, "aes-256-gcm")["key_id"]);
    let item = json!({ "key_id": id, "input": "" });
    let full = json!({ "items": vec![item.clone(); crate::ops::MAX_BATCH_ITEMS] });
    let (status, out) = post(&api, "/v1/batch/encrypt", &full);
    assert_eq!(status, 200);
    assert_eq!(
        out["results"].as_array().map(Vec::len),
        Some(crate::ops::MAX_BATCH_ITEMS)
    );
    let over = json!({ "items": vec![item; crate::ops::MAX_BATCH_ITEMS + 1] });
    let (status, err) = post(&api, "/v1/batch/encrypt", &over);
    assert_eq!((status, code(&err)), (413, "payload_too_large"));
    let (status, err) = post(&api, "/v1/batch/encrypt", &json!({ "items": 3 }));
    assert_eq!((status, code(&err)), (400, "invalid_input"));
}
