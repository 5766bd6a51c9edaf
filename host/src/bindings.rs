//! Host-side bindings generated from `wit/` for the `kms-host` world: the
//! `qimem:kms/store` and `wasi:config/store` imports the host provides.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "kms-host",
    imports: { default: async },
});
