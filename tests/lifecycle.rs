//! End-to-end: the key lifecycle and the `/v1/` data-plane routes (import,
//! disable, enable, destroy, rewrap, data keys, batches) against the real
//! `qimem` binary.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qimem_tests::Host;
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn code(v: &Value) -> String {
    s(&v["error"]["code"])
}

#[test]
fn an_imported_key_seals_what_its_owner_can_open_and_walks_the_lifecycle() {
    let host = Host::start(&[]);
    let material: Vec<u8> = (0u8..32).map(|b| b.wrapping_mul(37)).collect();
    let material_b64 = STANDARD.encode(&material);
    let (status, key) = host.post(
        "/v1/keys/import",
        &json!({ "material_b64": material_b64, "labels": { "origin": "hsm" } }),
    );
    assert_eq!(status, 201, "{key}");
    assert_eq!(
        (s(&key["algorithm"]), s(&key["state"])),
        ("aes-256-gcm".into(), "active".into())
    );
    let id = s(&key["key_id"]);
    let lineage = s(&key["lineage_id"]);

    // The owner of the material opens QIMEM's envelope with it alone:
    // AES-256-GCM over `header || aad`, header = version, algorithm, key id,
    // nonce (envelope format v1).
    let aad = b"tenant-1";
    let (_, enc) = host.post(
        "/v1/encrypt",
        &json!({ "key_id": id, "input": "bring your own", "aad_b64": STANDARD.encode(aad) }),
    );
    let envelope = STANDARD.decode(s(&enc["envelope"])).unwrap();
    let (header, sealed) = envelope.split_at(30);
    let cipher = Aes256Gcm::new_from_slice(&material).unwrap();
    let joined = [header, aad.as_slice()].concat();
    let opened = cipher
        .decrypt(
            header[18..30].try_into().unwrap(),
            Payload {
                msg: sealed,
                aad: &joined,
            },
        )
        .expect("the owner's copy of the key opens the envelope");
    assert_eq!(opened, b"bring your own");
    let logs = host.logs().join("\n");
    assert!(!logs.contains(&material_b64), "material in the log");

    // Wrong lengths are refused with a 400.
    let short = json!({ "material_b64": STANDARD.encode([1u8; 16]) });
    let (status, err) = host.post("/v1/keys/import", &short);
    assert_eq!((status, code(&err)), (400, "invalid_input".into()));

    // Disable: every use refused with 409 until enabled.
    let env_b64 = s(&enc["envelope"]);
    let dec = json!({ "input": env_b64, "aad_b64": STANDARD.encode(aad) });
    let (status, k) = host.post(&format!("/v1/keys/{id}/disable"), &json!({}));
    assert_eq!((status, s(&k["state"])), (200, "disabled".into()));
    for (path, body) in [
        ("/v1/encrypt", json!({ "key_id": id, "input": "x" })),
        ("/v1/decrypt", dec.clone()),
        ("/v1/data-key", json!({ "key_id": id })),
    ] {
        let (status, err) = host.post(path, &body);
        assert_eq!(
            (status, code(&err)),
            (409, "key_not_usable".into()),
            "{path}"
        );
    }
    let (status, k) = host.post(&format!("/v1/keys/{id}/enable"), &json!({}));
    assert_eq!((status, s(&k["state"])), (200, "active".into()));

    // Rotate to generated material, then destroy the imported version.
    let (status, v2) = host.post(&format!("/v1/keys/{id}/rotate"), &json!({}));
    assert_eq!(status, 200);
    let v2_id = s(&v2["key_id"]);
    let (status, moved) = host.post("/v1/rewrap", &dec);
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (s(&moved["key_id"]), s(&moved["previous_key_id"])),
        (v2_id.clone(), id.clone())
    );

    let destroy = format!("/v1/keys/{id}/destroy");
    let (status, err) = host.post(&destroy, &json!({ "force": true }));
    assert_eq!((status, code(&err)), (400, "invalid_input".into()));
    let (status, tomb) = host.post(&destroy, &json!({ "confirm": id }));
    assert_eq!((status, s(&tomb["state"])), (200, "destroyed".into()));

    let (status, err) = host.post("/v1/decrypt", &dec);
    assert_eq!((status, code(&err)), (410, "key_destroyed".into()));
    assert_eq!(s(&err["error"]["key_id"]), id);
    assert!(s(&err["error"]["message"]).contains(&id));
    // What was rewrapped before the destruction still opens.
    let rewrapped = json!({ "input": moved["envelope"], "aad_b64": STANDARD.encode(aad) });
    let (status, plain) = host.post("/v1/decrypt", &rewrapped);
    assert_eq!(
        (status, s(&plain["plaintext"])),
        (200, "bring your own".into())
    );

    // The stored record itself is checked where a test can read it: in
    // PostgreSQL (tests/stateful.rs) and in the memory store's unit tests.

    // The tombstone stays in its lineage and in listings.
    let (_, lin) = host.get(&format!("/v1/keys/{v2_id}/lineage"));
    let states: Vec<String> = lin["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(&k["state"]))
        .collect();
    assert_eq!(states, ["destroyed", "active"]);
    let (_, listed) = host.get(&format!("/v1/keys?lineage_id={lineage}&state=destroyed"));
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1));

    // The v2 key is the lineage's only active key: destroying it needs force.
    let (status, err) = host.post(
        &format!("/v1/keys/{v2_id}/destroy"),
        &json!({ "confirm": v2_id }),
    );
    assert_eq!((status, code(&err)), (409, "conflict".into()));

    let (_, audit) = host.get(&format!("/v1/audit?lineage_id={lineage}"));
    let actions: Vec<String> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert_eq!(
        actions,
        ["imported", "disabled", "enabled", "rotated", "destroyed"]
    );
}

#[test]
fn data_keys_batches_and_deterministic_envelopes_over_http() {
    let host = Host::start(&[]);
    let (_, siv) = host.post("/v1/keys", &json!({ "algorithm": "aes-256-siv" }));
    let siv_id = s(&siv["key_id"]);
    let (_, chacha) = host.post("/v1/keys", &json!({ "algorithm": "xchacha20-poly1305" }));
    let chacha_id = s(&chacha["key_id"]);

    // Data keys: plaintext and wrapped, or wrapped only.
    let aad = STANDARD.encode(b"object-42");
    let (status, dk) = host.post(
        "/v1/data-key",
        &json!({ "key_id": chacha["lineage_id"], "aad_b64": aad }),
    );
    assert_eq!(status, 200, "{dk}");
    let plain = STANDARD.decode(s(&dk["plaintext_b64"])).unwrap();
    assert_eq!(plain.len(), 32);
    let (_, opened) = host.post(
        "/v1/decrypt",
        &json!({ "input": dk["wrapped"], "aad_b64": aad, "output": "base64" }),
    );
    assert_eq!(STANDARD.decode(s(&opened["plaintext_b64"])).unwrap(), plain);
    let (status, only) = host.post("/v1/data-key/wrapped", &json!({ "key_id": chacha_id }));
    assert_eq!(status, 200);
    assert!(only.get("plaintext_b64").is_none(), "{only}");

    // Deterministic mode: equal inputs, equal envelopes; other AAD, other envelope.
    let enc = |aad: &str| {
        let body = json!({ "key_id": siv_id, "input": "alice@example.org", "aad_b64": aad });
        s(&host.post("/v1/encrypt", &body).1["envelope"])
    };
    assert_eq!(enc("ZW1haWw="), enc("ZW1haWw="));
    assert_ne!(enc("ZW1haWw="), enc("cGhvbmU="));
    assert_eq!(enc(""), enc(""));

    // Batches: results in order, each with its own result or error.
    let items = json!({ "items": [
        { "key_id": siv_id, "input": "" },
        { "key_id": chacha_id, "input_b64": STANDARD.encode([0u8, 255]) },
        { "key_id": "not-a-uuid", "input": "x" },
    ]});
    let (status, out) = host.post("/v1/batch/encrypt", &items);
    assert_eq!(status, 400, "{out}");
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(code(&results[2]), "invalid_input");
    let items = json!({ "items": [
        { "input": results[0]["envelope"] },
        { "input": results[1]["envelope"], "output": "base64" },
    ]});
    let (status, out) = host.post("/v1/batch/decrypt", &items);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["results"][0]["plaintext"], "");
    assert_eq!(out["results"][1]["plaintext_b64"], "AP8=");

    // Rotation, then a batch rewrap moves both to the new key.
    let (_, v2) = host.post(&format!("/v1/keys/{chacha_id}/rotate"), &json!({}));
    let items = json!({ "items": [
        { "input": results[1]["envelope"] },
        { "input": dk["wrapped"], "aad_b64": aad },
    ]});
    let (status, out) = host.post("/v1/batch/rewrap", &items);
    assert_eq!(status, 200, "{out}");
    for r in out["results"].as_array().unwrap() {
        assert_eq!(s(&r["key_id"]), s(&v2["key_id"]));
        assert_eq!(s(&r["previous_key_id"]), chacha_id);
    }

    let item = json!({ "key_id": siv_id, "input": "" });
    let over = json!({ "items": vec![item; 1001] });
    let (status, err) = host.post("/v1/batch/encrypt", &over);
    assert_eq!((status, code(&err)), (413, "payload_too_large".into()));
}

/// The largest request bodies the host accepts round-trip in every
/// operation; one byte over the limit is a 413.
#[test]
fn maximum_size_inputs_round_trip_in_every_operation() {
    const LIMIT: usize = 16 * 1024;
    let limit = LIMIT.to_string();
    let host = Host::start(&[("QIMEM_MAX_BODY_BYTES", &limit)]);
    let (_, key) = host.post("/v1/keys", &json!({}));
    let id = s(&key["key_id"]);

    // The largest plaintext whose encrypt request fits exactly.
    let encrypt_body = |n: usize| json!({ "key_id": id, "input": "a".repeat(n) }).to_string();
    let fixed = encrypt_body(0).len();
    let biggest = LIMIT - fixed;
    assert_eq!(encrypt_body(biggest).len(), LIMIT);
    let (status, _) = host.send(
        "POST",
        "/v1/encrypt",
        Some("application/json"),
        encrypt_body(biggest).as_bytes(),
    );
    assert_eq!(status, 200);
    let (status, err) = host.send(
        "POST",
        "/v1/encrypt",
        Some("application/json"),
        encrypt_body(biggest + 1).as_bytes(),
    );
    assert_eq!((status, code(&err)), (413, "payload_too_large".into()));

    // The largest plaintext whose envelope still fits a decrypt, rewrap
    // and batch request: the envelope adds 46 bytes, base64 a third.
    let n = (LIMIT - 200) / 4 * 3 - 46;
    let plaintext = vec![0x5au8; n];
    let body = json!({ "key_id": id, "input_b64": STANDARD.encode(&plaintext) });
    let (status, enc) = host.post("/v1/encrypt", &body);
    assert_eq!(status, 200);
    let envelope = enc["envelope"].clone();
    for (path, body, field) in [
        (
            "/v1/decrypt",
            json!({ "input": envelope, "output": "base64" }),
            None,
        ),
        ("/v1/rewrap", json!({ "input": envelope }), Some("envelope")),
        (
            "/v1/batch/decrypt",
            json!({ "items": [{ "input": envelope, "output": "base64" }] }),
            None,
        ),
    ] {
        assert!(body.to_string().len() <= LIMIT);
        let (status, out) = host.post(path, &body);
        assert_eq!(status, 200, "{path}: {out}");
        let out = out.get("results").map_or(out.clone(), |r| r[0].clone());
        match field {
            Some(f) => assert!(out[f].is_string()),
            None => assert_eq!(
                STANDARD.decode(s(&out["plaintext_b64"])).unwrap(),
                plaintext
            ),
        }
    }

    // Empty plaintext in every operation.
    let (_, enc) = host.post("/v1/encrypt", &json!({ "key_id": id, "input": "" }));
    let (status, dec) = host.post("/v1/decrypt", &json!({ "input": enc["envelope"] }));
    assert_eq!((status, s(&dec["plaintext"])), (200, String::new()));
    let (status, re) = host.post("/v1/rewrap", &json!({ "input": enc["envelope"] }));
    assert_eq!(status, 200);
    let (status, dec) = host.post("/v1/decrypt", &json!({ "input": re["envelope"] }));
    assert_eq!((status, s(&dec["plaintext"])), (200, String::new()));
}
