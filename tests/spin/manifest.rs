//! `spin.toml`: the trigger, the component and its store adapter where the
//! build puts them, the variables and the one outbound host.

use std::path::Path;

use qimem_spin_store::db::DATABASE_URL;
use toml::{Table, Value};

/// The store interface the adapter provides.
const STORE: &str = "qimem:kms/store@0.1.0";

/// The parsed `spin.toml` at the repository root.
fn manifest() -> Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    let text = std::fs::read_to_string(&path).expect("spin.toml at the repository root");
    text.parse().expect("spin.toml is TOML")
}

/// The value at a dotted path of keys.
fn at<'a>(table: &'a Table, path: &str) -> &'a Value {
    let mut keys = path.split('.');
    let first = keys.next().unwrap();
    let mut value = table.get(first).unwrap_or_else(|| panic!("no {first}"));
    for key in keys {
        value = value.get(key).unwrap_or_else(|| panic!("no {path}"));
    }
    value
}

/// The string at a dotted path.
fn string<'a>(table: &'a Table, path: &str) -> &'a str {
    at(table, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

/// Where the build leaves `file`, relative to the repository root: the
/// default `target/` plus the directory the build script found it in.
fn built(file: &str) -> String {
    format!("target/{}/{file}", env!("QIMEM_WASM_RELATIVE_DIR"))
}

/// The file name of a path given at build time.
fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_manifest_is_version_2_with_one_http_trigger_for_every_path() {
    let m = manifest();
    assert_eq!(at(&m, "spin_manifest_version").as_integer(), Some(2));

    let triggers = at(&m, "trigger.http").as_array().unwrap();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0]["route"].as_str(), Some("/..."));
    assert_eq!(triggers[0]["component"].as_str(), Some("qimem"));
}

#[test]
fn the_component_and_its_store_adapter_are_where_the_build_puts_them() {
    let m = manifest();
    let component = file_name(env!("QIMEM_COMPONENT_WASM"));
    let adapter = file_name(env!("QIMEM_SPIN_STORE_WASM"));

    assert_eq!(string(&m, "component.qimem.source"), built(&component));
    let deps = at(&m, "component.qimem.dependencies").as_table().unwrap();
    assert_eq!(deps.keys().collect::<Vec<_>>(), vec![STORE]);
    assert_eq!(deps[STORE]["path"].as_str(), Some(built(&adapter).as_str()));
}

#[test]
fn the_build_step_builds_both_packages_for_wasm32_wasip2_in_release() {
    let m = manifest();
    let commands: Vec<&str> = at(&m, "component.qimem.build.command")
        .as_array()
        .expect("a list of commands")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();

    for package in ["qimem-component", "qimem-spin-store"] {
        let command = commands
            .iter()
            .map(|c| c.split_whitespace().collect::<Vec<_>>())
            .find(|words| words.windows(2).any(|w| w == ["-p", package]))
            .unwrap_or_else(|| panic!("no build command for {package}"));
        assert_eq!(&command[..2], ["cargo", "build"]);
        for flag in ["--release", "--locked"] {
            assert!(command.contains(&flag), "{package}: {flag}");
        }
        assert!(
            command
                .windows(2)
                .any(|w| w == ["--target", "wasm32-wasip2"])
        );
        assert_eq!(
            command.iter().filter(|w| **w == "-p").count(),
            1,
            "one package per cargo run, as the native host builds it"
        );
    }
}

#[test]
fn secrets_are_secret_and_required_settings_are_required() {
    let m = manifest();
    let vars = at(&m, "variables").as_table().unwrap();
    for name in ["database_url", "master_key"] {
        assert_eq!(vars[name]["secret"].as_bool(), Some(true), "{name}");
        assert_eq!(vars[name]["required"].as_bool(), Some(true), "{name}");
    }
    assert_eq!(vars["db_host"]["required"].as_bool(), Some(true));
    // A Spin deployment must decide on access control: no default.
    assert_eq!(vars["auth_tokens"]["required"].as_bool(), Some(true));
    for name in ["master_key_previous", "auth_tokens"] {
        assert_eq!(vars[name]["secret"].as_bool(), Some(true), "{name}");
    }

    for name in vars.keys() {
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(valid, "{name} is not a valid Spin variable name");
    }
}

#[test]
fn the_component_sees_the_variables_the_component_and_adapter_read() {
    let m = manifest();
    let vars = at(&m, "variables").as_table().unwrap();
    let component_vars = at(&m, "component.qimem.variables").as_table().unwrap();

    for key in [
        "master_key",
        "master_key_previous",
        "max_body_bytes",
        DATABASE_URL,
    ] {
        assert_eq!(
            component_vars.get(key).and_then(Value::as_str),
            Some(format!("{{{{ {key} }}}}").as_str()),
            "{key} reaches the component from the application variable"
        );
        assert!(vars.contains_key(key), "{key} is declared");
    }
    for value in component_vars.values() {
        let name = value.as_str().unwrap().trim_matches(|c| "{} ".contains(c));
        assert!(
            vars.contains_key(name),
            "{name} is not an application variable"
        );
    }
}

#[test]
fn the_only_outbound_host_is_postgres_on_the_configured_host() {
    let m = manifest();
    let hosts = at(&m, "component.qimem.allowed_outbound_hosts")
        .as_array()
        .unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].as_str(), Some("postgres://{{ db_host }}:5432"));

    // The adapter is a dependency: it reaches PostgreSQL and reads
    // database_url only with the component's configuration.
    assert_eq!(
        at(&m, "component.qimem.dependencies_inherit_configuration").as_bool(),
        Some(true)
    );
}
