//! Evaluation of cross-spectral re-identification: the SYSU-MM01, RegDB and LLCM protocols,
//! CMC / mAP / mINP equal to the reference's, multi-trial scoring with the four reference
//! scores, and k-reciprocal re-ranking.

pub mod ann;
pub mod embeddings;
pub mod error;
pub mod metrics;
pub mod plotting;
pub mod report;
pub mod rerank;
pub mod search;
pub mod search_page;
pub mod side;
pub mod similarity;
pub mod summary;
pub mod summary_plot;
pub mod trials;

pub use error::{EvalError, Result};
pub use metrics::{
    aggregate, evaluate, per_query, per_query_multi, validate, Labels, Metrics, QueryResult,
};
pub use rerank::{rerank, RerankParams};
pub use side::{trial_inputs, Side, TrialSides};
pub use trials::{
    evaluate_trials, evaluate_trials_with, mean_metrics, reference_alpha, Features, Score, Trial,
    TrialOptions, TrialReport,
};
/// The protocols are the datasets': each one's evaluation rules (which gallery items a query
/// may not see, which CMC) are fields of its description in vireid-data.
pub use vireid_data::Dataset;
