//! End-to-end: the real `qimem` binary in stateless mode, driven over HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qimem_tests::{Host, TEST_MASTER_KEY, run_to_exit};
use serde_json::{Value, json};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

#[test]
fn create_encrypt_rotate_and_decrypt_old_envelopes() {
    let host = Host::start(&[]);
    assert_eq!(host.get("/health"), (200, json!({ "status": "ok" })));
    assert_eq!(host.get("/v1/security/health").0, 200);

    // QIMEM 1.x shapes, unversioned routes.
    let (status, v1) = host.post("/keys", &json!({}));
    assert_eq!(status, 201);
    for field in [
        "key_id",
        "lineage_id",
        "version",
        "state",
        "algorithm",
        "created_at",
    ] {
        assert!(v1.get(field).is_some(), "missing {field} in {v1}");
    }
    let id = s(&v1["key_id"]);
    let lineage = s(&v1["lineage_id"]);
    let (status, enc) = host.post("/encrypt", &json!({ "key_id": id, "input": "hello" }));
    assert_eq!(status, 200);
    let old_envelope = s(&enc["envelope"]);
    assert!(STANDARD.decode(&old_envelope).is_ok());

    let (status, dec) = host.post("/decrypt", &json!({ "input": old_envelope }));
    assert_eq!((status, s(&dec["plaintext"])), (200, "hello".to_string()));

    let (status, v2) = host.post("/rotate", &json!({ "key_id": id }));
    assert_eq!(status, 200);
    assert_eq!(v2["version"], 2);
    assert_eq!(s(&v2["parent_id"]), id);
    let new_id = s(&v2["key_id"]);
    assert_eq!(host.get(&format!("/keys/{id}")).1["state"], "retired");

    // Old envelopes still open; the retired key no longer encrypts.
    let (status, dec) = host.post("/v1/decrypt", &json!({ "input": old_envelope }));
    assert_eq!((status, s(&dec["plaintext"])), (200, "hello".to_string()));
    let (status, err) = host.post("/v1/encrypt", &json!({ "key_id": id, "input": "x" }));
    assert_eq!(status, 409);
    assert_eq!(s(&err["error"]["current_key_id"]), new_id);
    assert!(s(&err["error"]["message"]).contains(&new_id));
    let (status, err) = host.post("/v1/rotate", &json!({ "key_id": id }));
    assert_eq!(
        (status, s(&err["error"]["current_key_id"])),
        (409, new_id.clone())
    );

    // The lineage id always reaches the current key.
    let (status, enc) = host.post("/v1/encrypt", &json!({ "key_id": lineage, "input": "new" }));
    assert_eq!((status, s(&enc["key_id"])), (200, new_id.clone()));
    let (status, lin) = host.get(&format!("/v1/keys/{new_id}/lineage"));
    assert_eq!(status, 200);
    assert_eq!(lin["keys"].as_array().map(Vec::len), Some(2));
}

#[test]
fn binary_data_associated_data_and_listing() {
    let host = Host::start(&[]);
    let (_, key) = host.post("/v1/keys", &json!({ "labels": { "app": "billing" } }));
    let id = s(&key["key_id"]);
    let bytes = STANDARD.encode([0u8, 159, 146, 150, 255]);
    let aad = STANDARD.encode(b"tenant-7");
    let (status, enc) = host.post(
        "/v1/encrypt",
        &json!({ "key_id": id, "input_b64": bytes, "aad_b64": aad }),
    );
    assert_eq!(status, 200);
    let env = s(&enc["envelope"]);

    let (status, dec) = host.post("/v1/decrypt", &json!({ "input": env, "aad_b64": aad }));
    assert_eq!((status, s(&dec["plaintext_b64"])), (200, bytes));
    let (status, err) = host.post("/v1/decrypt", &json!({ "input": env }));
    assert_eq!(
        (status, s(&err["error"]["code"])),
        (422, "decryption_failed".to_string())
    );

    for _ in 0..4 {
        host.post("/v1/keys", &json!({}));
    }
    let (status, page) = host.get("/v1/keys?limit=3");
    assert_eq!(status, 200);
    assert_eq!(page["keys"].as_array().map(Vec::len), Some(3));
    let (_, rest) = host.get(&format!("/v1/keys?limit=3&after={}", s(&page["next"])));
    assert_eq!(rest["keys"].as_array().map(Vec::len), Some(2));
    assert!(rest["next"].is_null());
    let listed = page.to_string() + &rest.to_string();
    assert!(!listed.contains("sealed") && !listed.contains("material"));
}

#[test]
fn every_bad_request_gets_its_4xx_and_the_connection_survives() {
    let host = Host::start(&[("QIMEM_MAX_BODY_BYTES", "65536")]);
    let (_, key) = host.post("/keys", &json!({}));
    let id = s(&key["key_id"]);
    let (_, enc) = host.post("/encrypt", &json!({ "key_id": id, "input": "secret" }));
    let envelope = STANDARD.decode(s(&enc["envelope"])).unwrap();

    let mut tampered = envelope.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let mut header_flip = envelope.clone();
    header_flip[20] ^= 0x80;
    let truncated = &envelope[..envelope.len() - 17];

    let json_ct = Some("application/json");
    // (path, content type, body, expected status, expected error code)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/encrypt",
            json_ct,
            b"{\"key_id\":".to_vec(),
            400,
            "invalid_input",
        ),
        (
            "/encrypt",
            Some("text/plain"),
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "/encrypt",
            json_ct,
            json!({ "key_id": "7b0c9d3e-0000-4000-8000-000000000000", "input": "x" })
                .to_string()
                .into_bytes(),
            404,
            "not_found",
        ),
        (
            "/encrypt",
            json_ct,
            json!({ "key_id": id, "input_b64": "%%%" })
                .to_string()
                .into_bytes(),
            400,
            "invalid_input",
        ),
        (
            "/decrypt",
            json_ct,
            json!({ "input": "***" }).to_string().into_bytes(),
            400,
            "invalid_input",
        ),
        (
            "/decrypt",
            json_ct,
            json!({ "input": STANDARD.encode(truncated) })
                .to_string()
                .into_bytes(),
            422,
            "decryption_failed",
        ),
        (
            "/decrypt",
            json_ct,
            json!({ "input": STANDARD.encode(&tampered) })
                .to_string()
                .into_bytes(),
            422,
            "decryption_failed",
        ),
        (
            "/decrypt",
            json_ct,
            json!({ "input": STANDARD.encode(&header_flip) })
                .to_string()
                .into_bytes(),
            422,
            "decryption_failed",
        ),
        (
            "/encrypt",
            json_ct,
            vec![b' '; 70_000],
            413,
            "payload_too_large",
        ),
    ];
    let mut decryption_messages = Vec::new();
    for (path, ct, body, status, code) in cases {
        let (got, err) = host.send("POST", path, ct, &body);
        assert_eq!(
            (got, s(&err["error"]["code"])),
            (status, code.to_string()),
            "{path}"
        );
        if code == "decryption_failed" {
            decryption_messages.push(s(&err["error"]["message"]));
        }
    }
    // Tampering, truncation and a changed header are one opaque error.
    decryption_messages.dedup();
    assert_eq!(decryption_messages, vec!["decryption failed".to_string()]);

    assert_eq!(host.send("DELETE", "/encrypt", None, b"").0, 405);
    assert_eq!(host.get("/no/such/route").0, 404);
    // The server is still there after all of that.
    assert_eq!(host.get("/health").0, 200);
    let (status, dec) = host.post("/decrypt", &json!({ "input": STANDARD.encode(&envelope) }));
    assert_eq!((status, s(&dec["plaintext"])), (200, "secret".to_string()));
    let logs = host.stop().join("\n");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn sixty_four_concurrent_clients_encrypt_and_decrypt() {
    let host = Host::start(&[]);
    let (_, key) = host.post("/keys", &json!({}));
    let id = s(&key["key_id"]);

    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|client| {
                let host = &host;
                let id = id.clone();
                scope.spawn(move || {
                    for round in 0..5 {
                        let text = format!("client {client} round {round}");
                        let (status, enc) =
                            host.post("/encrypt", &json!({ "key_id": id, "input": text }));
                        assert_eq!(status, 200, "{enc}");
                        let (status, dec) =
                            host.post("/decrypt", &json!({ "input": enc["envelope"] }));
                        assert_eq!(status, 200, "{dec}");
                        assert_eq!(s(&dec["plaintext"]), text);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("client thread");
        }
    });
}

#[test]
fn logs_name_keys_but_never_carry_key_bytes_or_plaintext() {
    let host = Host::start(&[]);
    let (_, key) = host.post("/keys", &json!({}));
    let id = s(&key["key_id"]);
    let (_, enc) = host.post(
        "/encrypt",
        &json!({ "key_id": id, "input": "PLAINTEXT-MARKER-42" }),
    );
    let envelope = s(&enc["envelope"]);
    host.post("/decrypt", &json!({ "input": envelope }));
    let (_, v2) = host.post("/rotate", &json!({ "key_id": id }));
    let logs = host.stop();
    let text = logs.join("\n");

    assert!(text.contains(&format!("created key_id={id}")), "{text}");
    assert!(text.contains(&format!("encrypted with key_id={id}")));
    assert!(text.contains(&format!(
        "rotated key_id={id} to new_key_id={}",
        s(&v2["key_id"])
    )));
    // Every line is JSON in the documented shape.
    for line in &logs {
        let json: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            json["timestamp"].is_string() && json["level"].is_string(),
            "{line}"
        );
        assert!(json["fields"]["message"].is_string(), "{line}");
    }

    let master = STANDARD.decode(TEST_MASTER_KEY).unwrap();
    let master_hex: String = master.iter().map(|b| format!("{b:02x}")).collect();
    for secret in [
        TEST_MASTER_KEY,
        &master_hex,
        &TEST_MASTER_KEY[..16],
        "PLAINTEXT-MARKER-42",
        &envelope,
    ] {
        assert!(!text.contains(secret), "log leaks {secret}");
    }
}

#[test]
fn bad_configuration_exits_with_status_2_and_names_the_variable() {
    let cases = [
        (vec![("QIMEM_MODE", "sideways")], "QIMEM_MODE"),
        (
            vec![("QIMEM_MASTER_KEY", "not-a-real-key-value")],
            "QIMEM_MASTER_KEY",
        ),
        (vec![("QIMEM_BIND", "localhost")], "QIMEM_BIND"),
        (
            vec![("QIMEM_MAX_BODY_BYTES", "lots")],
            "QIMEM_MAX_BODY_BYTES",
        ),
        (vec![("RUST_LOG", "qimem=[")], "RUST_LOG"),
    ];
    for (env, name) in cases {
        let (status, stderr) = run_to_exit(&env);
        assert_eq!(status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(!stderr.contains("not-a-real-key-value"), "{stderr}");
    }
}
