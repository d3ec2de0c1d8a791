//! The subcommands that need no network, and what every subcommand shares: flag parsers,
//! output checks, JSON printing. (train, test, extract and demo live in the vireid-torch
//! binary, src/bin/vireid-torch.)

pub mod augment;
pub mod metrics;
pub mod prepare;
pub mod search;
pub mod splits;
pub mod summary;
pub mod synth;
pub mod weights;

use vireid_data::Dataset;

/// The `--dataset` (and `--protocol`) parser: the names of the dataset descriptions, each
/// listed in `--help` with what its root holds.
pub fn dataset_parser() -> impl clap::builder::TypedValueParser<Value = Dataset> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        Dataset::ALL.map(|d| PossibleValue::new(d.name()).help(d.spec().layout)),
    )
    .map(|name| name.parse::<Dataset>().expect("one of the listed names"))
}

/// Prints one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// clap parser for a weight in [0, 1] (NaN and infinities refused with the range named).
pub fn unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .parse()
        .map_err(|_| format!("expected a number in [0, 1], found {s:?}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("expected a number in [0, 1], found {s}"))
    }
}

/// clap parser for a count of at least one.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!(
            "expected a whole number of at least 1, found {s:?}"
        )),
    }
}

/// Checks, before any work, that `path` (a file or folder to be written) can be created:
/// its nearest existing ancestor is a folder this process may write into. Hours of training
/// or evaluation should not end in "cannot write".
pub fn ensure_writable(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
    let mut at = path;
    loop {
        if at.exists() {
            break;
        }
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = std::path::Path::new(".");
                break;
            }
        }
    }
    if at == path && !at.is_dir() {
        // An existing file to be replaced: its folder must be writable.
        at = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
    }
    anyhow::ensure!(
        at.is_dir(),
        "{flag} {}: {} is not a folder",
        path.display(),
        at.display()
    );
    let c = std::ffi::CString::new(at.as_os_str().as_encoded_bytes())?;
    // SAFETY: access only reads the NUL-terminated path it is given.
    let ok = unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0;
    anyhow::ensure!(
        ok,
        "{flag} {}: cannot write into {} (permission denied)",
        path.display(),
        at.display()
    );
    Ok(())
}
