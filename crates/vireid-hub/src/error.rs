use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, HubError>;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{file}: not on this machine, and downloading it from {url} failed: {why}.\n\
         Download it where there is a network and put it in {places}; or pass \
         --pretrained FILE; or --pretrained none to start from random weights (tens of \
         points lower on SYSU-MM01)"
    )]
    Unavailable {
        file: String,
        url: String,
        places: String,
        why: String,
    },
    #[error("{url}: {why}")]
    Download { url: String, why: String },
    #[error(
        "{url}: the download's sha256 is {found}, but its name promises one starting with \
         {expected}: a damaged or substituted file (nothing was written)"
    )]
    HashMismatch {
        url: String,
        expected: String,
        found: String,
    },
    #[error("no ImageNet weights are known for backbone {0:?} (resnet18, resnet34, resnet50)")]
    UnknownBackbone(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no cache folder: neither XDG_CACHE_HOME nor a home folder is set (set XDG_CACHE_HOME)"
    )]
    NoCacheFolder,
}
