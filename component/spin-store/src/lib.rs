//! QIMEM's store adapter for Spin: a component that exports
//! `qimem:kms/store` and keeps the sealed key records and the audit trail
//! in PostgreSQL through Spin's outbound PostgreSQL API
//! (`spin:postgres/postgres@4.2.0`).
//!
//! Spin plugs it into the QIMEM component as a component dependency
//! (`spin.toml`), so the QIMEM component itself is the same bytes the native
//! host serves. Every statement it runs comes from `qimem-store-sql`, the
//! crate the native host's PostgreSQL store uses too: one schema, one set of
//! statements, one set of rules.
//!
//! - The database URL is read through `wasi:config/store` (`database_url`,
//!   a Spin variable inherited from the QIMEM component).
//! - The adapter applies no migrations. A missing schema, a missing
//!   `database_url` or an unreachable database is `store-error::unavailable`
//!   with a message saying which, which the QIMEM component answers with a
//!   503 JSON error.
//! - It sees only sealed material, and never logs: its messages name the
//!   failing step and the database's error, never a URL, a password or row
//!   data.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod convert;
pub mod db;
mod store;

/// Bindings generated from `wit/` for the `spin-store` world.
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "spin-store",
        generate_all,
    });

    // Exported symbols only exist in the WebAssembly build; a native
    // library (used by the unit tests) cannot carry WIT export names.
    #[cfg(target_arch = "wasm32")]
    use crate::store::Adapter;
    #[cfg(target_arch = "wasm32")]
    export!(Adapter with_types_in crate::bindings);
}
