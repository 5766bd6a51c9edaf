//! `qimem-compose DIR`: writes the composed components built by this crate,
//! `qimem-kms.wasm` and `qimem-compose-example.wasm`, into `DIR`.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: qimem-compose DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    match copy_into(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qimem-compose: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Copy both components into `dir`, creating it if needed.
fn copy_into(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for built in [qimem_compose::KMS_WASM, qimem_compose::EXAMPLE_WASM] {
        let built = Path::new(built);
        let to = dir.join(built.file_name().expect("a file name"));
        std::fs::copy(built, &to)?;
        println!("{}", to.display());
    }
    Ok(())
}
