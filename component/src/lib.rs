//! QIMEM's key-management component.
//!
//! All key logic lives here: creating keys, encrypting and decrypting
//! envelopes, rotation with lineage. It exports the typed
//! `qimem:kms/keys` interface and `wasi:http/incoming-handler` (the JSON
//! API), imports `qimem:kms/store` for sealed records, and reads its
//! master key through `wasi:config/store`.
//!
//! Security contract:
//! - key material is held in [`secret::KeyMaterial`] (zeroized on drop, no
//!   `Debug`, no `Clone`) and sealed under the master key before any store
//!   sees it ([`seal`]);
//! - the log ([`log`]) carries ids and operation names only: never key
//!   bytes, master keys, plaintext, associated data or envelopes;
//! - errors never carry key material, and every failure to open an
//!   envelope is the one opaque [`error::KmsError::DecryptionFailed`].
//!
//! The only `unsafe` code is what `wit-bindgen` generates for the
//! canonical ABI, confined to the `bindings` module.
//!
//! Cargo features (both on by default):
//! - `export`: the WIT glue, exporting the typed `keys` API (world
//!   `kms-library`, the variant to compose into other components);
//! - `http`: the JSON API and its `wasi:http/incoming-handler` export
//!   (world `kms`, what the native host and Spin serve).
//!
//! With neither, the crate is plain Rust (key logic, envelope, stores) that
//! other components may reuse without exporting anything.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod cipher;
pub mod config;
pub mod envelope;
pub mod error;
#[cfg(feature = "http")]
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
pub mod model;
pub mod ops;
pub mod seal;
pub mod secret;
pub mod selftest;
pub mod store;
#[cfg(feature = "export")]
mod wit;

/// Bindings generated from `wit/` for the `kms` world (or `kms-library`
/// without the HTTP API).
#[cfg(feature = "export")]
#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    #[cfg(feature = "http")]
    wit_bindgen::generate!({
        path: "../wit",
        world: "kms",
        generate_all,
    });
    #[cfg(not(feature = "http"))]
    wit_bindgen::generate!({
        path: "../wit",
        world: "kms-library",
        generate_all,
    });

    // Exported symbols only exist in the WebAssembly build; a native
    // cdylib (used by the unit tests) cannot carry WIT export names.
    #[cfg(target_arch = "wasm32")]
    use crate::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component with_types_in crate::bindings);
}

/// The component's exported implementation.
#[cfg(feature = "export")]
struct Component;
