//! The typed API (the composed `qimem-kms.wasm`, called through its
//! `qimem:kms/keys` export) and the HTTP API (the native host) agree on the
//! bytes: the same imported key material yields envelopes of the one
//! documented format (docs/envelope.md), which the test opens on its own
//! with AES-256-GCM, and each side decrypts what it made.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qimem_tests::Host;
use serde_json::json;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod typed {
    //! Bindings for calling the composed component's typed export.
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({ path: "../wit", world: "kms-library" });
}

use typed::exports::qimem::kms::keys::CreateOptions;

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Wasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Open a v1 AES-256-GCM envelope with `key`, as docs/envelope.md describes.
fn open_by_the_spec(key: &[u8], envelope: &[u8], aad: &[u8]) -> Vec<u8> {
    assert_eq!(&envelope[..2], &[1, 1], "version 1, AES-256-GCM");
    let (header, body) = envelope.split_at(2 + 16 + 12);
    let nonce = Nonce::try_from(&header[18..]).expect("12-byte nonce");
    let cipher = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    let joined = [header, aad].concat();
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: body,
                aad: &joined,
            },
        )
        .expect("the envelope opens with the imported key")
}

#[test]
fn an_imported_key_gives_the_same_envelope_format_through_both_apis() {
    let material: Vec<u8> = (0u8..32)
        .map(|b| b.wrapping_mul(7).wrapping_add(3))
        .collect();
    let aad = b"agreement".to_vec();

    // HTTP API, native host.
    let host = Host::start(&[]);
    let (status, key) = host.post(
        "/v1/keys/import",
        &json!({ "material_b64": STANDARD.encode(&material), "algorithm": "aes-256-gcm" }),
    );
    assert_eq!(status, 201, "{key}");
    let input = json!({
        "key_id": key["key_id"],
        "input": "over http",
        "aad_b64": STANDARD.encode(&aad),
    });
    let (status, enc) = host.post("/v1/encrypt", &input);
    assert_eq!(status, 200, "{enc}");
    let http_envelope = STANDARD.decode(enc["envelope"].as_str().unwrap()).unwrap();
    let (status, dec) = host.post(
        "/v1/decrypt",
        &json!({ "input": enc["envelope"], "aad_b64": STANDARD.encode(&aad) }),
    );
    assert_eq!(
        (status, dec["plaintext"].as_str()),
        (200, Some("over http"))
    );

    // Typed API, composed component under plain wasmtime + WASI.
    let engine = Engine::default();
    let component = Component::from_file(&engine, qimem_compose::KMS_WASM).expect("compiles");
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");
    let ctx = WasiCtxBuilder::new()
        .env("QIMEM_MASTER_KEY", qimem_tests::TEST_MASTER_KEY)
        .build();
    let mut store = Store::new(
        &engine,
        Wasi {
            ctx,
            table: ResourceTable::new(),
        },
    );
    let kms = typed::KmsLibrary::instantiate(&mut store, &component, &linker)
        .expect("instantiates with standard WASI only");
    let keys = kms.qimem_kms_keys();
    let options = CreateOptions {
        algorithm: None,
        labels: vec![],
    };
    let info = keys
        .call_import_key(&mut store, &material, &options)
        .expect("no trap")
        .expect("import-key succeeds");
    let typed_envelope = keys
        .call_encrypt(&mut store, &info.id, b"over the typed api", &aad)
        .expect("no trap")
        .expect("encrypt succeeds");
    let back = keys
        .call_decrypt(&mut store, &typed_envelope, &aad)
        .expect("no trap")
        .expect("decrypt succeeds");
    assert_eq!(back, b"over the typed api");

    // Both envelopes are the documented format under the one imported key.
    assert_eq!(
        open_by_the_spec(&material, &http_envelope, &aad),
        b"over http"
    );
    assert_eq!(
        open_by_the_spec(&material, &typed_envelope, &aad),
        b"over the typed api"
    );
    assert_eq!(
        http_envelope.len() - "over http".len(),
        typed_envelope.len() - 18
    );
}
