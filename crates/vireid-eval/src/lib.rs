//! Evaluation of cross-spectral re-identification: the SYSU-MM01, RegDB and LLCM protocols,
//! CMC / mAP / mINP equal to the reference's, multi-trial scoring with the four reference
//! scores, and k-reciprocal re-ranking.

pub mod error;
pub mod metrics;
pub mod protocol;
pub mod report;
pub mod rerank;
pub mod similarity;
pub mod trials;

pub use error::{EvalError, Result};
pub use metrics::{
    aggregate, evaluate, per_query, per_query_multi, validate, Labels, Metrics, QueryResult,
};
pub use protocol::EvalProtocol;
pub use rerank::{rerank, RerankParams};
pub use trials::{
    evaluate_trials, evaluate_trials_with, mean_metrics, reference_alpha, Features, Score, Trial,
    TrialOptions, TrialReport,
};
