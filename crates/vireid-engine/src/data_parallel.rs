//! Data-parallel training over a c10d process group (README, "Many GPUs and machines"): every
//! rank steps on its own identity batch, gradients are averaged over the ranks before the
//! update, and BatchNorm's running statistics (normalisation itself uses each rank's own
//! batch) are taken from rank 0 after every step, as PyTorch's DistributedDataParallel does
//! by default. Rank 0 alone owns the run folder; the others receive from it at the start
//! (fresh or resumed) everything that defines the run: its state, every variable and the
//! momentum buffers. So all ranks hold the same weights and buffers throughout.

use crate::error::{EngineError, Result};
use crate::sgd::Sgd;
use crate::trainer::RunState;
use std::cell::Cell;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_dist::grads::{average, identical, share};
use vireid_dist::{ProcessGroup, ReduceOp};

/// A process group and the variables it keeps equal.
pub struct DataParallel<'a> {
    group: &'a ProcessGroup,
    device: Device,
    /// Every variable, sorted by name so that all ranks pack them alike.
    variables: Vec<Tensor>,
    /// The variables without gradients (running statistics), likewise sorted.
    buffers: Vec<Tensor>,
    /// Seconds spent in the step's exchanges since last taken.
    exchanging: Cell<f64>,
}

impl<'a> DataParallel<'a> {
    pub fn new(group: &'a ProcessGroup, vs: &VarStore) -> DataParallel<'a> {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = named
            .iter()
            .filter(|(_, t)| !t.requires_grad())
            .map(|(_, t)| t.shallow_clone())
            .collect();
        DataParallel {
            group,
            device: vs.device(),
            variables: named.into_iter().map(|(_, t)| t).collect(),
            buffers,
            exchanging: Cell::new(0.0),
        }
    }

    /// The seconds the steps spent exchanging since the last call.
    pub fn take_exchange_seconds(&self) -> f64 {
        self.exchanging.replace(0.0)
    }

    fn timed(&self, exchange: impl FnOnce() -> Result<()>) -> Result<()> {
        let start = Instant::now();
        let result = exchange();
        self.exchanging
            .set(self.exchanging.get() + start.elapsed().as_secs_f64());
        result
    }

    pub fn rank(&self) -> usize {
        self.group.rank()
    }

    pub fn world_size(&self) -> usize {
        self.group.world_size()
    }

    pub fn leads(&self) -> bool {
        self.rank() == 0
    }

    /// Between backward and the update: every gradient becomes its mean over the ranks.
    pub fn average_gradients(&self, sgd: &Sgd) -> Result<()> {
        self.timed(|| Ok(average(self.group, &sgd.gradients())?))
    }

    /// After the update: rank 0's running statistics everywhere.
    pub fn share_buffers(&self) -> Result<()> {
        self.timed(|| Ok(share(self.group, &self.buffers, 0)?))
    }

    /// Whether any rank says yes (a stop request seen by one rank stops all at the same step).
    pub fn any(&self, yes: bool) -> Result<bool> {
        let flag = Tensor::from_slice(&[yes as i32]).to_device(self.device);
        self.group.all_reduce(&flag, ReduceOp::Max)?;
        Ok(flag.int64_value(&[0]) != 0)
    }

    /// Waits for all ranks (rank 0 evaluating or saving while the others wait here).
    pub fn barrier(&self) -> Result<()> {
        Ok(self.group.barrier()?)
    }

    /// Whether every variable is bit-identical on all ranks.
    pub fn in_step(&self) -> Result<bool> {
        Ok(identical(self.group, &self.variables)?)
    }

    /// At the start: the other ranks take rank 0's state (its `state`, variables and momentum
    /// buffers). `state` is rank 0's on rank 0 and a placeholder elsewhere.
    pub fn start_from_leader(&self, state: &mut RunState, sgd: &mut Sgd) -> Result<()> {
        let text = if self.leads() {
            serde_json::to_vec(&(&*state, momentum_names(sgd))).map_err(|e| {
                EngineError::Config {
                    key: "state",
                    why: format!("cannot encode the run state for the other ranks: {e}"),
                }
            })?
        } else {
            Vec::new()
        };
        let bytes = self.broadcast_bytes(text)?;
        let (leader, momentum): (RunState, Vec<String>) =
            serde_json::from_slice(&bytes).map_err(|e| EngineError::Config {
                key: "state",
                why: format!("rank 0 sent a run state this rank cannot read: {e}"),
            })?;
        if !self.leads() {
            *state = leader;
            sgd.zero_momentum(&momentum)?;
        }
        share(self.group, &self.variables, 0)?;
        let buffers: Vec<Tensor> = sgd.state().into_iter().map(|(_, t)| t).collect();
        share(self.group, &buffers, 0)?;
        Ok(())
    }

    /// Rank 0's `bytes` on every rank: the length, then the bytes.
    fn broadcast_bytes(&self, bytes: Vec<u8>) -> Result<Vec<u8>> {
        let len = Tensor::from_slice(&[bytes.len() as i64]).to_device(self.device);
        self.group.broadcast(&len, 0)?;
        let n = len.int64_value(&[0]);
        let buf = if self.leads() {
            Tensor::from_slice(&bytes).to_device(self.device)
        } else {
            Tensor::zeros([n], (Kind::Uint8, self.device))
        };
        self.group.broadcast(&buf, 0)?;
        Ok(Vec::<u8>::try_from(&buf.to_device(Device::Cpu))?)
    }
}

fn momentum_names(sgd: &Sgd) -> Vec<String> {
    sgd.state().into_iter().map(|(name, _)| name).collect()
}

/// A rank's own seed: rank 0 keeps the run's (so one process trains as it always did), the
/// others get well-separated ones (a SplitMix64 step of seed and rank).
pub fn rank_seed(seed: u64, rank: usize) -> u64 {
    if rank == 0 {
        return seed;
    }
    let mut z = seed ^ (rank as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::rank_seed;

    #[test]
    fn rank_zero_keeps_the_seed_and_others_differ() {
        assert_eq!(rank_seed(7, 0), 7);
        let seeds: Vec<u64> = (0..64).map(|r| rank_seed(7, r)).collect();
        let mut unique = seeds.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seeds.len());
        assert_ne!(rank_seed(7, 1), rank_seed(8, 1));
    }
}
