use std::path::PathBuf;

/// Everything that can stop a job. Errors of the crates below pass through whole
/// (`transparent`), so their causes (an OS error, a decoder's message) stay in the chain that
/// the command line prints.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Network(#[from] vireid_nn::NnError),
    #[error(transparent)]
    Data(#[from] vireid_data::DataError),
    #[error(transparent)]
    Augment(#[from] vireid_augment::AugmentError),
    #[error(transparent)]
    Evaluation(#[from] vireid_eval::EvalError),
    #[error(transparent)]
    Weights(#[from] vireid_hub::HubError),
    #[error(transparent)]
    Distributed(#[from] vireid_dist::DistError),
    #[error("libtorch")]
    Torch(#[from] tch::TchError),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A config key out of range (or naming something that does not exist).
    #[error("config key {key}: {why}")]
    Config { key: &'static str, why: String },
    /// A TOML config file that does not parse or names an unknown key.
    #[error("{path}: {why}")]
    ConfigFile { path: PathBuf, why: String },
    #[error("{path}: not a vireid run state")]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{dir} already holds a run; pass --resume to continue it or choose another folder")]
    RunExists { dir: PathBuf },
    #[error(
        "{dir} was trained with another config; resume with the saved one ({saved}), or train \
         into a new folder"
    )]
    ConfigChanged { dir: PathBuf, saved: PathBuf },
    #[error(
        "{dir} was trained by {saved} process(es) and this job has {now}: each rank's batches \
         and the effective batch depend on the count, so resume it with {saved} (--nproc \
         {saved}, or torchrun --nproc-per-node {saved})"
    )]
    WorldSizeChanged {
        dir: PathBuf,
        saved: usize,
        now: usize,
    },
    #[error("the {what} cache holds {found} images but the config trains at {wanted}")]
    CacheSize {
        what: &'static str,
        found: String,
        wanted: String,
    },
    #[error("the loss became {loss} at epoch {epoch}, step {step}: lower the lr")]
    Diverged {
        loss: f64,
        epoch: usize,
        step: usize,
    },
    #[error("{path}: a {found} network, but the previous trials' was {previous}")]
    MixedCheckpoints {
        path: PathBuf,
        found: String,
        previous: String,
    },
    #[error(
        "mixed precision: {steps} steps in a row overflowed at the smallest loss scale (epoch \
         {epoch}, step {step}); the gradients are not finite and the run no longer learns: \
         lower the lr, or set amp = false (the run resumes from its last save)"
    )]
    Overflowing {
        steps: usize,
        epoch: usize,
        step: usize,
    },
    /// Resuming would change how the run computes.
    #[error("{dir}: {why}")]
    Precision { dir: PathBuf, why: String },
    #[error("cannot encode {path}")]
    Encode {
        path: std::path::PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("{0}")]
    Embed(String),
    #[error(
        "{} image(s) cannot be read (--skip-unreadable leaves them out, listed): {}",
        .0.len(),
        .0.iter().map(|u| format!("{}: {}", u.path.display(), u.why)).collect::<Vec<_>>().join("; ")
    )]
    UnreadableImages(Vec<crate::embed::Unreadable>),
    #[error("drawing a plot: {0}")]
    Plot(String),
    /// A folder given to a summary that has no scores to give.
    #[error("{dir}: {why}")]
    Summary { dir: PathBuf, why: String },
    #[error("the optimiser state does not fit the network: {}", .0.join("; "))]
    OptimizerState(Vec<String>),
    #[error("the triplet loss needs at least two identities in a batch")]
    OneIdentity,
    /// The demo's folder holds something the demo did not make, or was made otherwise.
    #[error("{0}")]
    Demo(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// The project's atomic write (temporary file, fsync, rename), with this crate's error.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    vireid_data::atomic::write_atomic(path, bytes).map_err(|source| EngineError::Write {
        path: path.to_path_buf(),
        source,
    })
}
