use std::path::PathBuf;

/// Everything that can be wrong with a dataset tree, a list file, an image or a cache.
///
/// Each variant names the file (and line, where there is one) and what was expected there,
/// so that a user can fix the input without reading our code.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset root {0} does not exist or is not a folder")]
    MissingRoot(PathBuf),
    #[error("{what} {path} is missing")]
    Missing { path: PathBuf, what: String },
    /// The OS error is the source: error-chain printers (`{:#}`) print it after this.
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{list}, line {line}: listed image {image} does not exist")]
    MissingImage {
        list: PathBuf,
        line: usize,
        image: PathBuf,
    },
    #[error("cannot decode image {path}: {message}")]
    Image { path: PathBuf, message: String },
    /// The decoder's own error is the source.
    #[error("cannot decode image {path}")]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{path}: {message}")]
    Cache { path: PathBuf, message: String },
    #[error("{0}")]
    Protocol(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn missing(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        DataError::Missing {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;
