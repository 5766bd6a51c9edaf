//! Builds the QIMEM component for `wasm32-wasip2` with a nested cargo and
//! tells the host where the `.wasm` is (`QIMEM_COMPONENT_WASM`).
//!
//! The nested build uses its own target directory (sharing the outer one
//! would deadlock on its lock) and drops the outer build's flags and
//! wrappers, which are meant for the host target.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = out_dir.join("wasm");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    for watched in [
        "component/src",
        "component/Cargo.toml",
        "wit",
        "Cargo.lock",
        "migrations",
        "openapi",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--release", "--locked", "-p", "qimem-component"])
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
        .expect("could not run cargo to build the QIMEM component");
    assert!(
        status.success(),
        "building the QIMEM component for wasm32-wasip2 failed"
    );

    let wasm = target_dir.join("wasm32-wasip2/release/qimem_component.wasm");
    assert!(wasm.exists(), "component not found at {}", wasm.display());
    println!("cargo:rustc-env=QIMEM_COMPONENT_WASM={}", wasm.display());
}
