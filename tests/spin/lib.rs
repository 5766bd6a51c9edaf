//! Checks of QIMEM's Spin application that need no Spin runtime: the
//! manifest, the store adapter and the composition Spin makes of the QIMEM
//! component and the adapter. The build script builds both components.

#![deny(unsafe_code)]
#![deny(missing_docs)]

/// The interface packages (and versions) Spin 4.0 provides to a component,
/// of those a QIMEM Spin application may import: an import is acceptable
/// when its name starts with one of these.
///
/// Spin 4.0.2 provides wasi:http 0.2.0 to 0.2.6 (and 0.3.0-rc-2026-03-15),
/// spin:postgres 3.0.0 to 4.2.0, wasi:config/store 0.2.0-draft-2024-09-27
/// and spin:variables 3.0.0, besides the WASI 0.2 command world.
pub const SPIN_PROVIDED: &[&str] = &[
    "wasi:http/",
    "wasi:io/",
    "wasi:cli/",
    "wasi:random/",
    "wasi:clocks/",
    "wasi:config/store@0.2.0-draft-2024-09-27",
    "spin:variables/variables@3.0.0",
    "spin:postgres/postgres@4.",
    "spin:postgres/postgres@3.0.0",
];

/// WASI 0.2 versions Spin 4.0 provides.
pub const WASI_P2_VERSIONS: &[&str] = &[
    "0.2.0", "0.2.1", "0.2.2", "0.2.3", "0.2.4", "0.2.5", "0.2.6",
];

/// Whether Spin 4.0 provides the interface `name` (`pkg:ns/iface@version`).
pub fn spin_provides(name: &str) -> bool {
    let Some(prefix) = SPIN_PROVIDED.iter().find(|p| name.starts_with(*p)) else {
        return false;
    };
    if !prefix.starts_with("wasi:") || prefix.contains('@') {
        // spin:postgres 4.x: Spin 4.0 provides up to 4.2.0.
        return !name.starts_with("spin:postgres/postgres@4.")
            || ["4.0.0", "4.1.0", "4.2.0"]
                .iter()
                .any(|v| name.ends_with(v));
    }
    let version = name.rsplit_once('@').map(|(_, v)| v).unwrap_or("");
    WASI_P2_VERSIONS.contains(&version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_provides_wasi_0_2_and_its_own_interfaces_only() {
        assert!(spin_provides("wasi:http/types@0.2.6"));
        assert!(spin_provides("wasi:io/streams@0.2.0"));
        assert!(spin_provides("spin:postgres/postgres@4.2.0"));
        assert!(spin_provides("wasi:config/store@0.2.0-draft-2024-09-27"));

        assert!(!spin_provides("wasi:http/types@0.3.0"));
        assert!(!spin_provides("wasi:cli/environment@0.2.7"));
        assert!(!spin_provides("spin:postgres/postgres@4.3.0"));
        assert!(!spin_provides("wasi:filesystem/types@0.2.6"));
        assert!(!spin_provides("wasi:sockets/tcp@0.2.6"));
        assert!(!spin_provides("qimem:kms/store@0.1.0"));
    }
}
