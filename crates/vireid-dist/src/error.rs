use thiserror::Error;

#[derive(Debug, Error)]
pub enum DistError {
    #[error("{var}={value:?} is not {expected} (the launch environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)")]
    Env {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{var} is set but {missing} is not: a distributed launch sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT together")]
    PartialEnv {
        var: &'static str,
        missing: &'static str,
    },
    #[error("RANK {rank} is not below WORLD_SIZE {world}")]
    RankRange { rank: usize, world: usize },
    #[error("the rendezvous at {addr}:{port} failed (rank {rank} of {world}): {message}")]
    Rendezvous {
        addr: String,
        port: u16,
        rank: usize,
        world: usize,
        message: String,
    },
    #[error("{backend} process group (rank {rank} of {world}) could not start: {message}")]
    Group {
        backend: &'static str,
        rank: usize,
        world: usize,
        message: String,
    },
    /// A collective failed: a peer died, the network broke, or it timed out.
    #[error("{op} across {world} processes failed on rank {rank} (another process may have died or stalled): {message}")]
    Collective {
        op: &'static str,
        rank: usize,
        world: usize,
        message: String,
    },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, DistError>;
