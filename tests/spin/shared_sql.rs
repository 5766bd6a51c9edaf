//! The Spin store adapter runs the statements of `qimem-store-sql`, the
//! ones the native host runs against PostgreSQL, and has none of its own.

use std::path::Path;

use qimem_store_sql as sql;

/// Every statement the adapter runs.
const ADAPTER_STATEMENTS: [&str; 13] = [
    sql::PING,
    sql::INSERT,
    sql::GET,
    sql::ACTIVE,
    sql::ACTIVE_ID,
    sql::LINEAGE_AND_ACTIVE,
    sql::LIST,
    sql::LINEAGE,
    sql::ROTATE,
    sql::UPDATE_STATE,
    sql::DESTROY,
    sql::APPEND_AUDIT,
    sql::AUDIT,
];

#[test]
fn the_built_adapter_carries_each_shared_statement_verbatim() {
    let wasm = std::fs::read(env!("QIMEM_SPIN_STORE_WASM")).expect("the build script built it");
    for statement in ADAPTER_STATEMENTS {
        let found = wasm
            .windows(statement.len())
            .any(|w| w == statement.as_bytes());
        assert!(found, "the adapter does not run: {statement}");
    }
}

#[test]
fn the_adapter_source_writes_no_sql_of_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../component/spin-store/src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&src).expect("the adapter's sources") {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for keyword in [
            "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "BEGIN", "COMMIT",
        ] {
            assert!(
                !text.contains(keyword),
                "{} holds SQL ({keyword}); statements belong in qimem-store-sql",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "the adapter's modules were not found in {}",
        src.display()
    );
}
