//! The composed example (`qimem-compose`) under wasmtime's standard command
//! world: the wasmtime crate with wasmtime-wasi's `wasi:cli/command`
//! imports and nothing of QIMEM's host, so the composition must bring its
//! own store and configuration.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The store data: WASI and nothing else.
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

/// What a run of a command printed, and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The engine and a component, compiled once for all tests of the binary.
fn compiled(path: &'static str) -> (Engine, Component) {
    static EXAMPLE: OnceLock<(Engine, Component)> = OnceLock::new();
    static KMS: OnceLock<(Engine, Component)> = OnceLock::new();
    let cell = if path == qimem_compose::EXAMPLE_WASM {
        &EXAMPLE
    } else {
        &KMS
    };
    cell.get_or_init(|| {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path)
            .unwrap_or_else(|e| panic!("{path} does not compile: {e:?}"));
        (engine, component)
    })
    .clone()
}

/// Run the composed example as `wasmtime run` would, with `args` after the
/// program name and `env` as its environment.
fn run_example(args: &[&str], env: &[(&str, &str)]) -> Run {
    let (engine, component) = compiled(qimem_compose::EXAMPLE_WASM);
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("WASI links");

    let stdout = MemoryOutputPipe::new(1 << 16);
    let stderr = MemoryOutputPipe::new(1 << 16);
    let mut argv = vec!["qimem-compose-example"];
    argv.extend_from_slice(args);
    let ctx = WasiCtxBuilder::new()
        .args(&argv)
        .envs(env)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let mut store = Store::new(
        &engine,
        Wasi {
            ctx,
            table: ResourceTable::new(),
        },
    );

    let command = Command::instantiate(&mut store, &component, &linker)
        .unwrap_or_else(|e| panic!("the standard command world cannot run it: {e:?}"));
    let code = match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(trap) => match trap.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => panic!("the example trapped: {trap:?}"),
        },
    };
    drop(store);

    let text = |pipe: MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
    Run {
        code,
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

/// The line of `out` that starts with `prefix`, without it.
fn line_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
}

/// A message no earlier run could have printed.
fn fresh_message() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("composed secret {nanos}")
}

#[test]
fn the_composed_example_creates_encrypts_rotates_and_decrypts_the_old_envelope() {
    let message = fresh_message();
    let run = run_example(&[&message], &[]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let out = &run.stdout;

    // created key ID (lineage LINEAGE, version 1, active)
    let created = line_after(out, "created key ");
    let (first, rest) = created.split_once(" (lineage ").expect("id then details");
    let lineage = rest
        .strip_suffix(", version 1, active)")
        .unwrap_or_else(|| panic!("not a new active key: {created}"));

    let encrypted = line_after(out, "encrypted ");
    assert!(
        encrypted.starts_with(&format!("{} bytes with key {first}: ", message.len())),
        "{encrypted}"
    );

    // rotated key FIRST to key SECOND (lineage LINEAGE, version 2, active)
    let rotated = line_after(out, &format!("rotated key {first} to key "));
    let (second, rest) = rotated.split_once(' ').expect("id then details");
    assert_ne!(second, first);
    assert_eq!(rest, format!("(lineage {lineage}, version 2, active)"));
    assert_eq!(line_after(out, &format!("key {first} is now ")), "retired");
    assert_eq!(
        line_after(out, "rewrapped the envelope from key "),
        format!("{first} to key {second}")
    );

    assert_eq!(
        line_after(out, "decrypted the version 1 envelope: "),
        message
    );
    assert_eq!(
        line_after(out, "encrypted under lineage "),
        format!("{lineage} and decrypted it again")
    );
    assert!(out.contains("other associated data cannot open the envelope: decryption-failed"));
    assert_eq!(out.lines().last(), Some("round trip complete"));

    // No master key configured: the composed configuration made one and
    // said so, without printing it.
    assert!(
        run.stderr.contains("QIMEM_MASTER_KEY is not set"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_composed_example_reads_its_master_key_from_the_environment() {
    let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let run = run_example(&[], &[("QIMEM_MASTER_KEY", key)]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("is not set"), "{}", run.stderr);
    assert!(!run.stdout.contains(key) && !run.stderr.contains(key));

    let bad = run_example(&[], &[("QIMEM_MASTER_KEY", "too-short")]);
    assert_eq!(bad.code, 1, "stdout:\n{}", bad.stdout);
    assert!(!bad.stdout.contains("created key"), "{}", bad.stdout);
    assert!(
        bad.stderr.contains("failed: create: internal"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("too-short"), "{}", bad.stderr);
}

/// The top-level imports of a component, each with whether it is an
/// instance of types alone (no functions, no resources): such an import
/// needs nothing from the runtime, which accepts it as it is.
fn imports(path: &'static str) -> Vec<(String, bool)> {
    let (engine, component) = compiled(path);
    let ty = component.component_type();
    ty.imports(&engine)
        .map(|(name, item)| {
            let types_only = match item.ty {
                ComponentItem::ComponentInstance(instance) => instance
                    .exports(&engine)
                    .all(|(_, export)| matches!(export.ty, ComponentItem::Type(_))),
                _ => false,
            };
            (name.to_string(), types_only)
        })
        .collect()
}

/// The top-level export names of a component.
fn exports(path: &'static str) -> Vec<String> {
    let (engine, component) = compiled(path);
    let ty = component.component_type();
    ty.exports(&engine).map(|(n, _)| n.to_string()).collect()
}

/// Interfaces of WASI 0.2 that the command world provides.
fn is_standard_wasi(name: &str) -> bool {
    ["cli", "clocks", "filesystem", "io", "random", "sockets"]
        .iter()
        .any(|package| name.starts_with(&format!("wasi:{package}/")))
}

/// Every import is standard WASI, except `qimem:kms/types`, which declares
/// the records and enums of `keys` and has nothing to satisfy.
fn assert_only_standard_wasi(path: &'static str) {
    let imports = imports(path);
    assert!(!imports.is_empty(), "{path} imports nothing at all");
    for (name, types_only) in imports {
        if name == "qimem:kms/types@0.1.0" {
            assert!(types_only, "{path}: {name} carries functions or resources");
        } else {
            assert!(is_standard_wasi(&name), "{path} imports {name}");
        }
    }
}

#[test]
fn the_composed_components_import_only_standard_wasi_interfaces() {
    assert_only_standard_wasi(qimem_compose::EXAMPLE_WASM);
    let exported = exports(qimem_compose::EXAMPLE_WASM);
    assert!(
        exported.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")),
        "{exported:?}"
    );

    assert_only_standard_wasi(qimem_compose::KMS_WASM);
    assert_eq!(exports(qimem_compose::KMS_WASM), ["qimem:kms/keys@0.1.0"]);
}
