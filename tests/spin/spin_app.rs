//! The Spin application without a Spin runtime: what the built components
//! import and export, and the composition Spin makes of them.
//!
//! TODO: CI has no Spin runtime, so nothing here serves a request through
//! Spin; an envelope made through Spin and opened by the native host (and
//! back) rests on both serving the same component bytes on the same schema.

use qimem_spin_tests::spin_provides;
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};
use wit_component::DecodedWasm;
use wit_parser::{Resolve, TypeDefKind, WorldId, WorldItem};

/// The store interface the QIMEM component imports and the adapter exports.
const STORE: &str = "qimem:kms/store@0.1.0";

/// The QIMEM component, built as `spin.toml`'s build step builds it.
fn qimem_component() -> Vec<u8> {
    std::fs::read(env!("QIMEM_COMPONENT_WASM")).expect("the build script built it")
}

/// The Spin store adapter.
fn spin_store() -> Vec<u8> {
    std::fs::read(env!("QIMEM_SPIN_STORE_WASM")).expect("the build script built it")
}

/// The names of a component's imported and exported interfaces.
fn interfaces(wasm: &[u8]) -> (Vec<String>, Vec<String>) {
    let (resolve, world) = decode(wasm);
    let world = &resolve.worlds[world];
    let imports = world.imports.keys().map(|k| resolve.name_world_key(k));
    let exports = world.exports.keys().map(|k| resolve.name_world_key(k));
    (imports.collect(), exports.collect())
}

/// The imports a runtime has to supply something for: every imported
/// interface with a function or a resource. An interface of plain types
/// only (`qimem:kms/types`) asks nothing of the runtime.
fn imports_needing_the_runtime(wasm: &[u8]) -> Vec<String> {
    let (resolve, world) = decode(wasm);
    resolve.worlds[world]
        .imports
        .iter()
        .filter(|(_, item)| match item {
            WorldItem::Interface { id, .. } => {
                let iface = &resolve.interfaces[*id];
                let resource = iface
                    .types
                    .values()
                    .any(|t| matches!(resolve.types[*t].kind, TypeDefKind::Resource));
                !iface.functions.is_empty() || resource
            }
            WorldItem::Function(_) => true,
            WorldItem::Type { .. } => false,
        })
        .map(|(key, _)| resolve.name_world_key(key))
        .collect()
}

/// The WIT world of a component.
fn decode(wasm: &[u8]) -> (Resolve, WorldId) {
    match wit_component::decode(wasm).expect("a valid component") {
        DecodedWasm::Component(resolve, world) => (resolve, world),
        DecodedWasm::WitPackage(..) => panic!("not a component"),
    }
}

/// The QIMEM component with the adapter plugged into its store import, as
/// Spin composes a component with its dependency.
fn composed() -> Vec<u8> {
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes("qimem:kms", None, qimem_component(), graph.types_mut())
        .expect("the QIMEM component parses");
    let socket = graph.register_package(socket).unwrap();
    let plug = Package::from_bytes("qimem:spin-store", None, spin_store(), graph.types_mut())
        .expect("the adapter parses");
    let plug = graph.register_package(plug).unwrap();

    wac_graph::plug(&mut graph, vec![plug], socket).expect("the adapter plugs into the store");
    graph
        .encode(EncodeOptions::default())
        .expect("the composition encodes and validates")
}

#[test]
fn the_adapter_exports_the_store_the_component_imports() {
    let (component_imports, _) = interfaces(&qimem_component());
    let (adapter_imports, adapter_exports) = interfaces(&spin_store());

    assert!(
        component_imports.iter().any(|i| i == STORE),
        "{component_imports:?}"
    );
    assert_eq!(adapter_exports, vec![STORE.to_string()]);
    assert!(
        adapter_imports
            .iter()
            .any(|i| i.starts_with("spin:postgres/postgres@4.2.0")),
        "the adapter reaches PostgreSQL through Spin: {adapter_imports:?}"
    );
}

#[test]
fn the_adapter_imports_only_what_spin_4_provides() {
    let imports = imports_needing_the_runtime(&spin_store());
    let foreign: Vec<_> = imports.iter().filter(|i| !spin_provides(i)).collect();
    assert!(foreign.is_empty(), "Spin 4.0 does not provide {foreign:?}");
}

#[test]
fn the_composed_application_imports_only_what_spin_4_provides() {
    let composed = composed();
    let (all_imports, exports) = interfaces(&composed);
    assert!(
        !all_imports.iter().any(|i| i == STORE),
        "the store import is satisfied: {all_imports:?}"
    );

    let imports = imports_needing_the_runtime(&composed);
    assert!(
        imports.iter().any(|i| i.starts_with("spin:postgres/")),
        "the adapter's PostgreSQL import remains for Spin: {imports:?}"
    );
    let foreign: Vec<_> = imports.iter().filter(|i| !spin_provides(i)).collect();
    assert!(foreign.is_empty(), "Spin 4.0 does not provide {foreign:?}");
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "Spin's HTTP trigger needs the handler: {exports:?}"
    );
}
