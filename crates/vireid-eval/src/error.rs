/// What can be wrong with an evaluation's inputs.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("{what} has a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        what: String,
        row: usize,
        col: usize,
        value: f64,
    },
    #[error("empty input: {0}")]
    Empty(String),
    #[error("the {0} protocol needs camera ids for the queries and the gallery")]
    MissingCameras(&'static str),
    #[error("no query has a match in the gallery: nothing to evaluate")]
    NoValidQuery,
    #[error("{0}")]
    Invalid(String),
    /// A file that is not what it should be.
    #[error("{path}: {why}")]
    File {
        path: std::path::PathBuf,
        why: String,
    },
    /// Valid inputs whose arithmetic left the range of the number type.
    #[error("internal overflow: {0}")]
    Overflow(String),
}

pub type Result<T> = std::result::Result<T, EvalError>;
