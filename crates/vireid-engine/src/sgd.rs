//! SGD with momentum, Nesterov and weight decay, in two learning-rate groups, written on
//! tensors so that its state (the momentum buffers) can be saved and restored: libtorch's
//! optimiser keeps them where tch cannot reach, and a resumed run must end with the same
//! weights as an uninterrupted one. The update is torch.optim.SGD's:
//!   d = g + wd p;  b = m b + d (b = d at the first step);  d = d + m b;  p -= lr d.
//!
//! All trainable parameters live in one flat buffer (the backbone's group, then the heads',
//! each in name order), each parameter a view into it; their gradients likewise, and the
//! momentum buffers. A step is then a handful of kernels over two slices instead of a dozen
//! per parameter (~170 of them), the gradients are one tensor to zero, unscale or all-reduce,
//! and the arithmetic is element for element the per-parameter update's (each operation is a
//! separate multiply or add, rounded alike wherever an element sits), so the weights are the
//! same bytes (a test checks it). A parameter laid out channels-last (the convolutions of a
//! network after `PartNet::channels_last`) keeps that layout: its slot holds its elements in
//! NHWC order and the view permutes them back, so the convolutions still see channels-last
//! weights and gradients.

use crate::error::Result;
use std::ops::Range;
use tch::nn::VarStore;
use tch::{Kind, Tensor};
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

/// One parameter's place in the flat buffers.
struct Slot {
    name: String,
    shape: Vec<i64>,
    at: Range<i64>,
    /// A 4-D parameter whose elements lie in NHWC order.
    channels_last: bool,
}

impl Slot {
    /// The parameter's elements of a flat buffer, in its shape (and layout).
    fn view(&self, flat: &Tensor) -> Tensor {
        let elements = flat.narrow(0, self.at.start, self.at.end - self.at.start);
        match (self.channels_last, self.shape.as_slice()) {
            (true, &[o, i, h, w]) => elements.view([o, h, w, i]).permute([0, 3, 1, 2]),
            _ => elements.view(self.shape.as_slice()),
        }
    }
}

/// Whether a 4-D tensor has channels-last strides (and they differ from contiguous ones).
fn is_channels_last(t: &Tensor) -> bool {
    match (t.size().as_slice(), t.stride().as_slice()) {
        (&[_, i, h, w], &[s0, s1, s2, s3]) => {
            !t.is_contiguous() && s1 == 1 && s3 == i && s2 == w * i && s0 == h * w * i
        }
        _ => false,
    }
}

pub struct Sgd {
    config: SgdConfig,
    slots: Vec<Slot>,
    /// Each group's elements in the flat buffers.
    groups: [Range<i64>; 2],
    params: Tensor,
    grads: Tensor,
    /// None until the first step (which sets b = d).
    momentum: Option<Tensor>,
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
    /// Every trainable variable of `vs`, by name, moved into the flat buffer (their values
    /// unchanged; the variables stay the VarStore's, now views). All must share one element
    /// type and device.
    pub fn new(vs: &VarStore, config: SgdConfig) -> Sgd {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| (group_of(&a.0), &a.0).cmp(&(group_of(&b.0), &b.0)));
        let kind = named.first().map_or(Kind::Float, |(_, t)| t.kind());
        let device = vs.device();
        let mut slots = Vec::with_capacity(named.len());
        let mut groups = [0..0, 0..0];
        let mut offset = 0;
        for (name, t) in &named {
            let n = t.numel() as i64;
            let group = group_of(name);
            if groups[group].is_empty() {
                groups[group] = offset..offset;
            }
            groups[group].end = offset + n;
            slots.push(Slot {
                name: name.clone(),
                shape: t.size(),
                at: offset..offset + n,
                channels_last: is_channels_last(t),
            });
            offset += n;
        }
        let params = Tensor::zeros([offset], (kind, device));
        let grads = Tensor::zeros([offset], (kind, device));
        // Every parameter needs a gradient tensor before it can be made a view: one backward
        // pass of a zero-weighted sum creates them all (then they are overwritten).
        if !named.is_empty() {
            let sum = named
                .iter()
                .map(|(_, t)| t.sum(kind))
                .reduce(|a, b| a + b)
                .expect("at least one parameter");
            (sum * 0.0).backward();
        }
        tch::no_grad(|| {
            for ((_, t), slot) in named.iter().zip(&slots) {
                let mut p = slot.view(&params);
                p.copy_(t);
                t.shallow_clone().set_data(&p);
                t.grad().set_data(&slot.view(&grads));
            }
        });
        Sgd {
            config,
            slots,
            groups,
            params,
            grads,
            momentum: None,
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
        let _ = self.grads.zero_();
    }

    pub fn step(&mut self) {
        let SgdConfig {
            momentum,
            weight_decay,
            nesterov,
        } = self.config;
        tch::no_grad(|| {
            let mut d = if weight_decay != 0.0 {
                &self.grads + &self.params * weight_decay
            } else {
                self.grads.copy()
            };
            if momentum != 0.0 {
                let buffer = match self.momentum.take() {
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
                self.momentum = Some(buffer);
            }
            for (group, range) in self.groups.iter().enumerate() {
                if range.is_empty() {
                    continue;
                }
                let n = range.end - range.start;
                let mut p = self.params.narrow(0, range.start, n);
                p -= d.narrow(0, range.start, n) * self.lr[group];
            }
        });
    }

    /// Multiplies every gradient by `factor` (undoing a loss scale) and says whether all of
    /// them are finite afterwards: one device-to-host read for the whole network.
    pub fn scale_grads(&mut self, factor: f64) -> bool {
        tch::no_grad(|| {
            let _ = self.grads.g_mul_scalar_(factor);
            self.grads.isfinite().all().int64_value(&[]) != 0
        })
    }

    /// The gradients as the one flat buffer they live in (every parameter's, in the order of
    /// the flat parameters).
    pub fn gradients(&self) -> Vec<Tensor> {
        vec![self.grads.shallow_clone()]
    }

    /// Momentum buffers (zero) for `names`, so that another process's buffers can be copied
    /// in through [`Sgd::state`]'s views.
    pub fn zero_momentum(&mut self, names: &[String]) -> Result<()> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.slots.iter().any(|s| &s.name == *n))
        {
            return Err(crate::EngineError::OptimizerState(vec![format!(
                "optimizer state for unknown parameter {unknown}"
            )]));
        }
        if !names.is_empty() && self.momentum.is_none() {
            self.momentum = Some(self.params.zeros_like());
        }
        Ok(())
    }

    /// The momentum buffers by parameter name, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        match &self.momentum {
            None => Vec::new(),
            Some(b) => self
                .slots
                .iter()
                .map(|s| (s.name.clone(), s.view(b)))
                .collect(),
        }
    }

    /// Restores momentum buffers saved by [`Sgd::state`]; every name must be a parameter of
    /// the same shape. (A parameter the state leaves out gets a zero buffer, which gives its
    /// next step the same update as a first one.)
    pub fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let mut problems = Vec::new();
        let mut found = Vec::new();
        for (name, t) in state {
            match self.slots.iter().position(|s| s.name == name) {
                None => problems.push(format!("optimizer state for unknown parameter {name}")),
                Some(i) if self.slots[i].shape != t.size() => problems.push(format!(
                    "optimizer state {name}: expected shape {:?}, found {:?}",
                    self.slots[i].shape,
                    t.size()
                )),
                Some(i) => found.push((i, t)),
            }
        }
        if !problems.is_empty() {
            return Err(crate::EngineError::OptimizerState(problems));
        }
        if found.is_empty() {
            return Ok(());
        }
        let buffer = self.params.zeros_like();
        tch::no_grad(|| -> Result<()> {
            for (i, t) in &found {
                let mut view = self.slots[*i].view(&buffer);
                view.f_copy_(&t.to_kind(buffer.kind()).to_device(buffer.device()))?;
            }
            Ok(())
        })?;
        self.momentum = Some(buffer);
        Ok(())
    }
}
