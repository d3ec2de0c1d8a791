//! Downloads that land only when verified, and the check of a file against its name.

use crate::catalog::hash_prefix;
use crate::error::{HubError, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// torchvision's address for its weight files.
pub const DEFAULT_BASE_URL: &str = "https://download.pytorch.org/models/";
/// The environment variable that replaces [`DEFAULT_BASE_URL`] (a mirror, or a test's
/// server); the file name is appended.
pub const BASE_URL_ENV: &str = "VIREID_WEIGHTS_URL";

/// A connection that stalls this long (connecting, or between two reads) is given up.
const STALL: Duration = Duration::from_secs(60);
const CHUNK: usize = 1 << 20;

/// The sha256 of a file, in lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a file's bytes say about the hash its name promises.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// The sha256 starts with the name's hash.
    Verified { sha256: String },
    /// It does not: the file is damaged or not what its name says.
    Mismatch { expected: String, sha256: String },
    /// The name carries no hash to check against.
    NoHashInName { sha256: String },
}

/// Checks the file at `path` against the sha256 prefix in its name.
pub fn verify_name(path: &Path) -> Result<Verdict> {
    let sha256 = sha256_file(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match hash_prefix(&name) {
        None => Verdict::NoHashInName { sha256 },
        Some(p) if sha256.starts_with(&p.to_ascii_lowercase()) => Verdict::Verified { sha256 },
        Some(p) => Verdict::Mismatch {
            expected: p.to_string(),
            sha256,
        },
    })
}

/// Downloads `url` to `dest` (whose folder must exist), keeping it only when its sha256
/// starts with `expected` and it has the length the server announced: the bytes go to a
/// temporary file beside `dest`, renamed over it when checked and removed otherwise.
/// `progress` hears each chunk's size and, once, the total length when the server says it.
pub(crate) fn download(
    url: &str,
    dest: &Path,
    expected: &str,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<()> {
    let failed = |why: String| HubError::Download {
        url: url.to_string(),
        why,
    };
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(STALL))
            .timeout_per_read(Some(STALL))
            .build(),
    );
    let mut response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => failed(format!("the server answered HTTP {code}")),
        other => failed(other.to_string()),
    })?;
    let announced = response.body().content_length();
    progress(0, announced);
    let mut reader = response.body_mut().as_reader();
    // The fill below can only return io errors; what went wrong in words waits here.
    let mut problem = None;
    let written = vireid_data::atomic::write_atomic_with(dest, |out| {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    problem = Some(failed(format!(
                        "the download broke off after {total} bytes: {e}"
                    )));
                    return Err(e);
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            total += n as u64;
            progress(n as u64, None);
        }
        if let Some(len) = announced.filter(|&len| len != total) {
            problem = Some(failed(format!(
                "the download ended after {total} of {len} bytes (truncated)"
            )));
            return Err(std::io::Error::other("truncated"));
        }
        let sha256 = hex(&hasher.finalize());
        if !sha256.starts_with(&expected.to_ascii_lowercase()) {
            problem = Some(HubError::HashMismatch {
                url: url.to_string(),
                expected: expected.to_string(),
                found: sha256,
            });
            return Err(std::io::Error::other("hash mismatch"));
        }
        Ok(())
    });
    match (written, problem) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(p)) => Err(p),
        (Err(source), None) => Err(HubError::Io {
            path: dest.to_path_buf(),
            source,
        }),
    }
}
