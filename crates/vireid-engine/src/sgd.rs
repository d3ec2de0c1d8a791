//! SGD with momentum, Nesterov and weight decay, in two learning-rate groups, written on
//! tensors so that its state (the momentum buffers) can be saved and restored: libtorch's
//! optimiser keeps them where tch cannot reach, and a resumed run must end with the same
//! weights as an uninterrupted one. The update is torch.optim.SGD's:
//!   d = g + wd p;  b = m b + d (b = d at the first step);  d = d + m b;  p -= lr d.
//! Parameters without a gradient are not touched (the reference's frozen BNNeck biases are
//! not even variables here).

use crate::error::Result;
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::Tensor;
use vireid_nn::network::{GROUP_BACKBONE, GROUP_HEADS};

#[derive(Debug, Clone, Copy)]
pub struct SgdConfig {
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// The reference's: momentum 0.9, Nesterov, weight decay 5e-4.
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: true,
        }
    }
}

struct Param {
    tensor: Tensor,
    group: usize,
    buffer: Option<Tensor>,
}

pub struct Sgd {
    config: SgdConfig,
    params: BTreeMap<String, Param>,
    lr: [f64; 2],
}

/// The heads (BNNecks and classifiers) learn at lr, the rest at 0.1 lr.
pub fn group_of(name: &str) -> usize {
    if name.starts_with("bottleneck") || name.starts_with("classifier") {
        GROUP_HEADS
    } else {
        GROUP_BACKBONE
    }
}

impl Sgd {
    /// Every trainable variable of `vs`, by name.
    pub fn new(vs: &VarStore, config: SgdConfig) -> Sgd {
        let params = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, tensor)| {
                let group = group_of(&name);
                (
                    name,
                    Param {
                        tensor,
                        group,
                        buffer: None,
                    },
                )
            })
            .collect();
        Sgd {
            config,
            params,
            lr: [0.0; 2],
        }
    }

    /// Sets the heads' lr; the backbone gets a tenth (the reference's two groups).
    pub fn set_lr(&mut self, lr: f64) {
        self.set_lrs(lr, 0.1 * lr);
    }

    /// Sets both groups' learning rates.
    pub fn set_lrs(&mut self, heads: f64, backbone: f64) {
        self.lr[GROUP_HEADS] = heads;
        self.lr[GROUP_BACKBONE] = backbone;
    }

    pub fn zero_grad(&mut self) {
        for p in self.params.values_mut() {
            let mut g = p.tensor.grad();
            if g.defined() {
                let _ = g.detach_();
                let _ = g.zero_();
            }
        }
    }

    pub fn step(&mut self) {
        let SgdConfig {
            momentum,
            weight_decay,
            nesterov,
        } = self.config;
        tch::no_grad(|| {
            for p in self.params.values_mut() {
                let g = p.tensor.grad();
                if !g.defined() {
                    continue;
                }
                let mut d = if weight_decay != 0.0 {
                    g + &p.tensor * weight_decay
                } else {
                    g.copy()
                };
                if momentum != 0.0 {
                    let buffer = match p.buffer.take() {
                        None => d.copy(),
                        Some(mut b) => {
                            let _ = b.g_mul_scalar_(momentum);
                            b += &d;
                            b
                        }
                    };
                    if nesterov {
                        d += &buffer * momentum;
                    } else {
                        d = buffer.copy();
                    }
                    p.buffer = Some(buffer);
                }
                let lr = self.lr[p.group];
                p.tensor -= d * lr;
            }
        });
    }

    /// Multiplies every gradient by `factor` (undoing a loss scale) and says whether all of
    /// them are finite afterwards: one device-to-host read for the whole network.
    pub fn scale_grads(&mut self, factor: f64) -> bool {
        tch::no_grad(|| {
            let mut bad: Option<Tensor> = None;
            for p in self.params.values_mut() {
                let mut g = p.tensor.grad();
                if !g.defined() {
                    continue;
                }
                let _ = g.g_mul_scalar_(factor);
                let n = g.isfinite().logical_not().sum(tch::Kind::Int64);
                bad = Some(match bad {
                    None => n,
                    Some(b) => b + n,
                });
            }
            bad.is_none_or(|b| b.int64_value(&[]) == 0)
        })
    }

    /// The gradients of the parameters that have one, in name order.
    pub fn gradients(&self) -> Vec<Tensor> {
        self.params
            .values()
            .map(|p| p.tensor.grad())
            .filter(|g| g.defined())
            .collect()
    }

    /// Zero momentum buffers for `names` (each a parameter), so that another process's
    /// buffers can be copied in.
    pub fn zero_momentum(&mut self, names: &[String]) -> Result<()> {
        let state = names
            .iter()
            .filter_map(|n| {
                self.params
                    .get(n)
                    .map(|p| (n.clone(), p.tensor.zeros_like()))
            })
            .collect();
        if let Some(unknown) = names.iter().find(|n| !self.params.contains_key(*n)) {
            return Err(crate::EngineError::OptimizerState(vec![format!(
                "optimizer state for unknown parameter {unknown}"
            )]));
        }
        self.load_state(state)
    }

    /// The momentum buffers by parameter name, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .filter_map(|(k, p)| p.buffer.as_ref().map(|b| (k.clone(), b.shallow_clone())))
            .collect()
    }

    /// Restores momentum buffers saved by [`Sgd::state`]; every name must be a parameter of
    /// the same shape.
    pub fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let mut problems = Vec::new();
        for (name, t) in state {
            match self.params.get_mut(&name) {
                None => problems.push(format!("optimizer state for unknown parameter {name}")),
                Some(p) if p.tensor.size() != t.size() => problems.push(format!(
                    "optimizer state {name}: expected shape {:?}, found {:?}",
                    p.tensor.size(),
                    t.size()
                )),
                Some(p) => p.buffer = Some(t.to_device(p.tensor.device())),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(crate::EngineError::OptimizerState(problems))
        }
    }
}
