#![allow(dead_code)]
//! Helpers shared by the integration tests: the Python interpreter that plays the reference.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The interpreter to compare against: `$VIREID_PYTHON`, else the project's `.venv` (made by
/// `scripts/python-env.sh`, with numpy and Pillow), else `python3` (standard library only).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VIREID_PYTHON") {
        return p.into();
    }
    let venv = workspace().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// Runs a Python script with arguments and returns its stdout; fails the test on error.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed to run the parity tests");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Like `run_python`, for scripts that need numpy and Pillow: says how to get them.
pub fn run_python_with_libs(script: &str, args: &[&str]) -> String {
    let check = Command::new(python())
        .args(["-c", "import numpy, PIL"])
        .output()
        .expect("python3 must be installed");
    assert!(
        check.status.success(),
        "{} lacks numpy/Pillow: run `scripts/python-env.sh` (the README's test command does) \
         or set VIREID_PYTHON",
        python().display()
    );
    run_python(script, args)
}
