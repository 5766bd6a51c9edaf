//! QIMEM as parts for other WebAssembly applications, built by this crate's
//! build script (see `build.rs`):
//!
//! - [`KMS_WASM`]: QIMEM's typed API in one component, with a memory store
//!   and configuration from `QIMEM_*` environment variables plugged in. It
//!   exports `qimem:kms/keys@0.1.0` and imports standard WASI interfaces
//!   only, ready for `wac plug your-app.wasm --plug qimem-kms.wasm`.
//! - [`EXAMPLE_WASM`]: the example command (`examples/compose`) composed
//!   with it: one component that any WASI runtime runs as a command.

#![deny(unsafe_code)]
#![deny(missing_docs)]

/// Path of the self-contained QIMEM component (`qimem-kms.wasm`).
pub const KMS_WASM: &str = env!("QIMEM_KMS_WASM");

/// Path of the composed example command (`qimem-compose-example.wasm`).
pub const EXAMPLE_WASM: &str = env!("QIMEM_COMPOSE_EXAMPLE_WASM");
