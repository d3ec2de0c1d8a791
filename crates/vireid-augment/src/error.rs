/// Inputs the pipeline cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    #[error("source image: {0}")]
    Source(String),
    #[error("output buffer: {0}")]
    Output(String),
    #[error("{0}")]
    Invalid(String),
}
