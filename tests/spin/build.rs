//! Builds the QIMEM component and the Spin store adapter for
//! `wasm32-wasip2` with a nested cargo, the same command `spin.toml`'s
//! build step runs, and tells the tests where the `.wasm` files are
//! (`QIMEM_COMPONENT_WASM`, `QIMEM_SPIN_STORE_WASM`) and which path
//! inside the target directory they were written to
//! (`QIMEM_WASM_RELATIVE_DIR`).
//!
//! The nested build uses its own target directory (sharing the outer one
//! would deadlock on its lock) and drops the outer build's flags and
//! wrappers, which are meant for the host target.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Where cargo writes release builds for the component target, relative to
/// a target directory.
const RELATIVE_DIR: &str = "wasm32-wasip2/release";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("tests/spin sits two levels below the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = out_dir.join("wasm");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    for watched in ["component", "openapi", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    // One cargo run per package, as in `spin.toml`: built alone, the QIMEM
    // component gets exactly the dependency features the native host's
    // build gives it, so both serve the same bytes.
    for package in ["qimem-component", "qimem-spin-store"] {
        let status = Command::new(&cargo)
            .current_dir(&workspace)
            .args(["build", "--release", "--locked", "-p", package])
            .args(["--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_LLVM_COV")
            .status()
            .expect("could not run cargo to build a wasm32-wasip2 component");
        assert!(
            status.success(),
            "building {package} for wasm32-wasip2 failed"
        );
    }

    for (var, file) in [
        ("QIMEM_COMPONENT_WASM", "qimem_component.wasm"),
        ("QIMEM_SPIN_STORE_WASM", "qimem_spin_store.wasm"),
    ] {
        let wasm = target_dir.join(RELATIVE_DIR).join(file);
        assert!(wasm.exists(), "{file} not found at {}", wasm.display());
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
    println!("cargo:rustc-env=QIMEM_WASM_RELATIVE_DIR={RELATIVE_DIR}");
}
