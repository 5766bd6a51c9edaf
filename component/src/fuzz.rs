//! Fuzz targets: the envelope parser (with the open and rewrap paths behind
//! it) and the JSON request decoder (every POST route's body). Each target
//! takes arbitrary bytes and checks that QIMEM answers without panicking
//! and without a 500: every malformed input is a clean 4xx or the opaque
//! decryption error.
//!
//! `tests/fuzz.rs` replays the committed corpus in `fuzz/corpus/` and runs
//! a short mutation run inside `cargo test`; `fuzz/README.md` tells how to
//! run it for longer. The targets are plain functions so that any fuzzing
//! engine can drive them.
// TODO(issue 5): the stable harness mutates blindly; a coverage-guided
// engine (cargo-fuzz on nightly) over these same functions would reach
// deeper, once CI has a nightly toolchain for it.

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::http::api::{self, Context, Request};
use crate::model::{Algorithm, KeyRecord, KeyState};
use crate::ops::Kms;
use crate::seal::{MasterKey, MasterKeys};
use crate::secret::KeyMaterial;
use crate::store::{MemoryStore, Store};

/// The POST routes the JSON target drives; the first input byte picks one.
pub const ROUTES: [&str; 14] = [
    "/v1/keys",
    "/v1/keys/import",
    "/v1/encrypt",
    "/v1/decrypt",
    "/v1/rotate",
    "/v1/rewrap",
    "/v1/data-key",
    "/v1/data-key/wrapped",
    "/v1/batch/encrypt",
    "/v1/batch/decrypt",
    "/v1/batch/rewrap",
    "/v1/keys/00000000-0000-0000-0000-000000000001/destroy",
    "/v1/keys/00000000-0000-0000-0000-000000000002/disable",
    "/v1/keys/00000000-0000-0000-0000-000000000003/enable",
];

/// A memory store holding one key per algorithm with fixed ids
/// (`...0001` AES-256-GCM, `...0002` XChaCha20-Poly1305, `...0003`
/// AES-256-SIV) and fixed material, so that corpus entries can name them.
pub struct Fixture {
    /// The store.
    pub store: MemoryStore,
    /// The master keys.
    pub keys: MasterKeys,
}

impl Fixture {
    /// A fresh fixture; cheap enough to build once per input.
    pub fn new() -> Fixture {
        let keys = MasterKeys::new(
            MasterKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
                .expect("fixed master key"),
            None,
        );
        let store = MemoryStore::new();
        for (n, alg) in (1u128..).zip(Algorithm::ALL) {
            let mut record = KeyRecord {
                id: Uuid::from_u128(n),
                lineage_id: Uuid::from_u128(n + 100),
                version: 1,
                parent_id: None,
                algorithm: alg,
                state: KeyState::Active,
                created_at: 0,
                labels: vec![],
                sealed: vec![],
                seal_key_id: String::new(),
            };
            let material = Fixture::material(alg);
            keys.seal(&mut record, &material).expect("seal");
            store.insert(&record).expect("insert");
        }
        Fixture { store, keys }
    }

    /// The fixed material of the fixture key for `alg`.
    pub fn material(alg: Algorithm) -> KeyMaterial {
        KeyMaterial::from_bytes(Zeroizing::new(vec![alg.id(); alg.key_len()]))
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

/// Envelope target: parse `data`, then open and rewrap it. Panics when an
/// invariant breaks.
pub fn envelope(data: &[u8]) {
    if let Ok(env) = crate::envelope::parse(data) {
        assert_eq!(env.header.len() + env.body.len(), data.len());
        assert_eq!(env.nonce.len(), env.algorithm.nonce_len());
        assert!(env.body.len() >= crate::envelope::TAG_LEN);
        assert_eq!(env.key_id.as_bytes(), &data[2..18]);
    }
    let fixture = Fixture::new();
    let kms = Kms::new(&fixture.store, &fixture.keys);
    for aad in [&b""[..], b"aad"] {
        match kms.decrypt(data, aad) {
            Ok((_, record)) => {
                // Only a real envelope opens, and then it rewraps too.
                assert_eq!(
                    crate::envelope::parse(data).map(|e| e.key_id),
                    Ok(record.id)
                );
                assert!(kms.rewrap(data, aad).is_ok());
            }
            Err(err) => {
                assert_eq!(err, KmsError::DecryptionFailed, "unexpected error");
                assert_eq!(
                    kms.rewrap(data, aad).err(),
                    Some(KmsError::DecryptionFailed)
                );
            }
        }
    }
}

/// JSON target: the first byte picks a POST route, the rest is its body.
/// Panics on a 5xx or on a response that is not a JSON object.
pub fn json_request(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let path = ROUTES[usize::from(pick) % ROUTES.len()];
    let fixture = Fixture::new();
    let ctx = Context {
        store: &fixture.store,
        keys: Ok(&fixture.keys),
        caller: None,
        audit_data_plane: false,
    };
    let req = Request {
        method: "POST",
        path,
        query: "",
        content_type: Some("application/json"),
        body,
    };
    let resp = api::handle(&ctx, &req);
    assert!(
        (200..500).contains(&resp.status),
        "{path} answered {}: {}",
        resp.status,
        resp.body
    );
    assert!(resp.body.is_object());
    if resp.status >= 400 {
        // Every error is `{"error": {"code", ...}}`, except a batch whose
        // items failed, which still carries every result.
        let coded = resp.body["error"]["code"].is_string();
        assert!(coded || resp.body["results"].is_array(), "{}", resp.body);
    }
}
