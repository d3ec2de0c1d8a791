//! What the parity tests share: the Python with torch that runs the oracles.

use std::path::{Path, PathBuf};

/// `$VIREID_PYTHON`, else the project's `.venv` (scripts/python-env.sh creates it).
pub fn python() -> PathBuf {
    std::env::var_os("VIREID_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
            assert!(
                venv.exists(),
                "run scripts/python-env.sh (the README's test command does) or set VIREID_PYTHON"
            );
            venv
        })
}
