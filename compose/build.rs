//! Builds the parts of a composition for `wasm32-wasip2` with a nested
//! cargo, then composes them with `wac-graph`:
//!
//! 1. `qimem-kms.wasm`: the QIMEM component without its HTTP API (world
//!    `kms-library`) with the memory store and the environment
//!    configuration plugged into its imports. It exports `qimem:kms/keys`
//!    and imports standard WASI interfaces only.
//! 2. `qimem-compose-example.wasm`: the example command with
//!    `qimem-kms.wasm` plugged into its `qimem:kms/keys` import.
//!
//! The paths reach the crate as `QIMEM_KMS_WASM` and
//! `QIMEM_COMPOSE_EXAMPLE_WASM`. The nested builds use their own target
//! directory (sharing the outer one would deadlock on its lock) and drop the
//! outer build's flags and wrappers, which are meant for the host target.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, plug};

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("no manifest")?);
    let workspace = manifest_dir
        .parent()
        .context("compose/ sits in the workspace")?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("no OUT_DIR")?);
    // TODO: every profile that runs this script (build, clippy, test) has
    // its own OUT_DIR and so repeats the nested release build; a target
    // directory shared between them would save that time.
    let target_dir = out_dir.join("wasm");
    let release = target_dir.join("wasm32-wasip2/release");

    for watched in ["component", "examples/compose", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    // The QIMEM component is built on its own: the memory store reuses the
    // same crate without the `export` feature, and one cargo run would
    // unify the features and give the store QIMEM's exports too.
    cargo_build(
        workspace,
        &target_dir,
        &[
            "-p",
            "qimem-component",
            "--no-default-features",
            "--features",
            "export",
        ],
    )?;
    let library = out_dir.join("qimem-kms-library.wasm");
    fs::copy(release.join("qimem_component.wasm"), &library)?;
    cargo_build(
        workspace,
        &target_dir,
        &[
            "-p",
            "qimem-memory-store",
            "-p",
            "qimem-env-config",
            "-p",
            "qimem-compose-example",
        ],
    )?;

    let kms = compose(
        ("qimem:kms-library", &library),
        &[
            (
                "qimem:memory-store",
                &release.join("qimem_memory_store.wasm"),
            ),
            ("qimem:env-config", &release.join("qimem_env_config.wasm")),
        ],
    )?;
    let kms_path = out_dir.join("qimem-kms.wasm");
    fs::write(&kms_path, &kms)?;

    let example = compose(
        (
            "example:compose",
            &release.join("qimem-compose-example.wasm"),
        ),
        &[("qimem:kms", &kms_path)],
    )?;
    let example_path = out_dir.join("qimem-compose-example.wasm");
    fs::write(&example_path, example)?;

    println!("cargo:rustc-env=QIMEM_KMS_WASM={}", kms_path.display());
    println!(
        "cargo:rustc-env=QIMEM_COMPOSE_EXAMPLE_WASM={}",
        example_path.display()
    );
    Ok(())
}

/// `cargo build --release` of `args` for `wasm32-wasip2` into `target_dir`.
fn cargo_build(workspace: &Path, target_dir: &Path, args: &[&str]) -> Result<()> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_LLVM_COV")
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("cargo build {} for wasm32-wasip2 failed", args.join(" "));
    }
    Ok(())
}

/// The component at `socket` with every export of the `plugs` that it
/// imports plugged in, as `wac plug` does; its exports are kept.
fn compose(socket: (&str, &Path), plugs: &[(&str, &Path)]) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let mut register = |(name, path): (&str, &Path)| -> Result<_> {
        let package = Package::from_file(name, None, path, graph.types_mut())
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(graph.register_package(package)?)
    };
    let socket_id = register(socket)?;
    let plug_ids = plugs
        .iter()
        .map(|&plug| register(plug))
        .collect::<Result<Vec<_>>>()?;

    plug(&mut graph, plug_ids, socket_id).with_context(|| format!("plugging into {}", socket.0))?;
    Ok(graph.encode(EncodeOptions::default())?)
}
