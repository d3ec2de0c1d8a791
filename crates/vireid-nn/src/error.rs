use std::path::PathBuf;

/// Everything that can go wrong building, loading, saving or running the network.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// The OS error is the source (printed after this message by error-chain printers).
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a checkpoint: {why}")]
    NotACheckpoint { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    Architecture { path: PathBuf, why: String },
    #[error("{path}: the weights do not fit the network:\n{}", .problems.join("\n"))]
    Mismatch {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// A file a library could not read; its error is the source.
    #[error("{path}: {what}")]
    Unreadable {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("device {requested}: {why}")]
    Device { requested: String, why: String },
    /// An image batch whose shape the network cannot take.
    #[error("{0}")]
    Batch(String),
    /// libtorch's error is the source.
    #[error("libtorch")]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, NnError>;
