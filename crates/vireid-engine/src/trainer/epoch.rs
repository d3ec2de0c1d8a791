//! One epoch of steps: batches from the prefetcher, one optimisation step each (float32, or
//! autocast with the loss scale on CUDA), the running sums, and a stop request honoured
//! between steps.

use super::prefetch::{epoch_seed, produce, Prepared};
use super::records::Partial;
use super::{Observer, TrainData};
use crate::amp::{train_step_amp, LossScale};
use crate::config::TrainConfig;
use crate::data_parallel::DataParallel;
use crate::error::{EngineError, Result};
use crate::sgd::Sgd;
use crate::step::train_step;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;
use tch::{Device, Tensor};
use vireid_augment::Preset;
use vireid_data::sampler::Batch;
use vireid_nn::PartNet;

/// What an epoch trains with.
pub(crate) struct Stepper<'a> {
    pub net: &'a PartNet,
    pub sgd: &'a mut Sgd,
    pub device: Device,
    /// Mixed precision (CUDA with `amp` only).
    pub amp: bool,
    pub loss_scale: &'a mut LossScale,
    /// This rank's seed (the run's on rank 0): the augmentation's draws derive from it.
    pub seed: u64,
    /// Data-parallel across processes.
    pub across: Option<&'a DataParallel<'a>>,
}

/// Runs `batches` of epoch `epoch` from `tally.steps` on, adding to `tally`. Returns whether
/// it stopped early on request (the tally then says how far it got).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_epoch(
    config: &TrainConfig,
    data: &TrainData,
    preset: &Preset,
    batches: &[Batch],
    epoch: usize,
    tally: &mut Partial,
    stepper: Stepper<'_>,
    stop: &AtomicBool,
    observer: &mut dyn Observer,
) -> Result<bool> {
    let skip = tally.steps;
    let bk = config.ids_per_batch * config.images_per_id;
    let shape = [bk as i64, 3, config.height as i64, config.width as i64];
    let start = Instant::now();
    let earlier = tally.seconds;
    let Stepper {
        net,
        sgd,
        device,
        amp,
        loss_scale,
        seed,
        across,
    } = stepper;
    let seed = epoch_seed(seed, epoch);
    let stopped = std::thread::scope(|scope| -> Result<bool> {
        let (tx, rx) = sync_channel::<Result<Prepared>>(config.prefetch.max(1));
        scope.spawn(move || produce(data, preset, batches, skip, seed, tx));
        loop {
            let asked = Instant::now();
            let Ok(prepared) = rx.recv() else { break };
            tally.waiting += asked.elapsed().as_secs_f64();
            let stepping_from = Instant::now();
            let p = prepared?;
            let vis = upload(Tensor::from_slice(&p.visible).view(shape), device);
            let thr = upload(Tensor::from_slice(&p.thermal).view(shape), device);
            let labels = upload(Tensor::from_slice(&p.labels), device);
            // The same step but for autocast and the loss scale (see amp.rs).
            let losses = if amp {
                let skipped = loss_scale.skipped;
                let losses = train_step_amp(net, sgd, across, loss_scale, &vis, &thr, &labels)?;
                tally.skipped += loss_scale.skipped - skipped;
                let limit = config.amp_max_floor_overflows;
                if limit > 0 && loss_scale.floor_overflows >= limit {
                    return Err(EngineError::Overflowing {
                        steps: loss_scale.floor_overflows,
                        epoch,
                        step: tally.steps,
                    });
                }
                losses
            } else {
                train_step(net, sgd, across, &vis, &thr, &labels)?
            };
            if !losses.total.is_finite() {
                return Err(EngineError::Diverged {
                    loss: losses.total,
                    epoch,
                    step: tally.steps,
                });
            }
            tally.stepping += stepping_from.elapsed().as_secs_f64();
            if let Some(dp) = across {
                tally.exchanging += dp.take_exchange_seconds();
            }
            tally.sums.total += losses.total;
            tally.sums.identity += losses.identity;
            tally.sums.triplet += losses.triplet;
            tally.steps += 1;
            let images = (tally.steps - skip) * 2 * bk * across.map_or(1, |d| d.world_size());
            let rate = images as f64 / start.elapsed().as_secs_f64().max(1e-9);
            observer.step(&losses, rate);
            let mut stopping = stop.load(Ordering::SeqCst);
            if let Some(dp) = across {
                // All ranks stop at the same step, whichever saw the request.
                stopping = dp.any(stopping)?;
            }
            if tally.steps < batches.len() && stopping {
                // Leaving the loop drops the receiver: the producer stops at its next send.
                return Ok(true);
            }
        }
        Ok(false)
    });
    tally.seconds = earlier + start.elapsed().as_secs_f64();
    stopped
}

/// A host batch on `device`. On CUDA it goes through page-locked memory and is copied
/// without blocking: the copy is queued on the stream behind the previous step's kernels
/// (so it is ordered with them) and the host thread goes on queueing this step's instead
/// of waiting for it to land (libtorch's pinned-memory allocator keeps the block until the
/// copy has run, so dropping it here is safe). On the CPU it is the tensor itself.
fn upload(batch: Tensor, device: Device) -> Tensor {
    if device.is_cuda() {
        batch
            .pin_memory(device)
            .to_device_(device, batch.kind(), true, false)
    } else {
        batch.to_device(device)
    }
}
