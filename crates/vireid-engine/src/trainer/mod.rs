//! The training loop: identity-sampled batches augmented on a background thread while the
//! current step runs, the reference's schedule, evaluation every few epochs keeping the best
//! checkpoint, and a run folder that a killed run resumes from with the same final weights
//! as an uninterrupted one (docs/reference-behaviour.md, Training loop).
//!
//! Every random stream derives from the one seed: libtorch's (initialisation only), the
//! sampler's (one ChaCha stream per epoch) and the augmentation's (one per image, indexed by
//! epoch, step and position), so resuming, at an epoch boundary or after any step of a
//! stopped epoch, replays exactly.
//!
//! The parts: [`run_folder`] (state, resume, commit), [`prefetch`] (the batch producer),
//! [`epoch`] (the steps of one epoch), [`hooks`] (best checkpoint, metrics files, curves) and
//! [`records`] (what a run records); the evaluation schedule is
//! [`TrainConfig::evaluates_after`].

pub mod epoch;
pub mod hooks;
pub mod prefetch;
pub mod records;
pub mod run_folder;

pub use records::{EpochRecord, EvalScores, Outcome, Partial};
pub use run_folder::{read_state, RunFolder, RunState};

use crate::amp::Precision;
use crate::config::TrainConfig;
use crate::data_parallel::{rank_seed, DataParallel};
use crate::error::{EngineError, Result};
use crate::sgd::{Sgd, SgdConfig};
use crate::step::StepLosses;
use epoch::{run_epoch, Stepper};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use tch::nn::VarStore;
use tch::Device;
use vireid_data::cache::ImageCache;
use vireid_data::sampler::IdentitySampler;
use vireid_dist::ProcessGroup;
use vireid_nn::network::part_net;
use vireid_nn::PartNet;

/// The training images, as the prepared caches hold them (uint8 N x H x W x 3, labels).
pub struct TrainData {
    pub visible: ImageCache,
    pub thermal: ImageCache,
}

/// Receives what the loop does, for progress bars and logs.
pub trait Observer {
    /// An epoch of `steps` steps starts, of which `done` were done before a resume.
    fn epoch_start(&mut self, _epoch: usize, _steps: usize, _done: usize) {}
    fn step(&mut self, _losses: &StepLosses, _images_per_second: f64) {}
    fn epoch_end(&mut self, _record: &EpochRecord, _state: &RunState) {}
    /// Something a person should know (a resume on another device).
    fn note(&mut self, _line: &str) {}
}

/// Where and how a run goes.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    /// The run folder (created if needed).
    pub dir: &'a Path,
    pub device: Device,
    /// Continue the run the folder holds.
    pub resume: bool,
    /// The weights file a fresh run's backbone starts from (`pretrained` resolved); none for
    /// random weights. Not read when resuming.
    pub init: Option<&'a Path>,
    /// Train data-parallel across this group's processes (rank 0 owns `dir`; the others
    /// neither read nor write it).
    pub group: Option<&'a ProcessGroup>,
}

impl RunOptions<'_> {
    /// Whether this process owns the run folder: alone, or rank 0 of its group.
    pub fn leads(&self) -> bool {
        vireid_dist::leads(self.group)
    }
}

/// Trains into `dir` (created if needed). A folder with a state.json is resumed when
/// `resume`, and refused otherwise; its config must equal `config`.
pub fn train(
    config: &TrainConfig,
    data: &TrainData,
    run: RunOptions<'_>,
    evaluate: &mut dyn FnMut(&PartNet) -> Result<EvalScores>,
    stop: &AtomicBool,
    observer: &mut dyn Observer,
) -> Result<(Outcome, RunState)> {
    config.validate()?;
    let created = run.leads() && !run.dir.exists();
    let result = train_in(config, data, run, evaluate, stop, observer);
    // A run that failed before its first commit leaves no folder behind, so that the same
    // command, corrected, starts afresh instead of finding "a run" of one config file.
    if result.is_err() && created && !run_folder::state_path(run.dir).exists() {
        let _ = std::fs::remove_dir_all(run.dir);
    }
    result
}

fn train_in(
    config: &TrainConfig,
    data: &TrainData,
    run: RunOptions<'_>,
    evaluate: &mut dyn FnMut(&PartNet) -> Result<EvalScores>,
    stop: &AtomicBool,
    observer: &mut dyn Observer,
) -> Result<(Outcome, RunState)> {
    check_cache_sizes(config, data)?;
    let sampler = IdentitySampler::new(
        data.visible.labels(),
        data.thermal.labels(),
        config.ids_per_batch,
        config.images_per_id,
    )?;
    let network = config.net_config(classes(data));
    let preset = config.augmentation();

    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(run.device);
    let precision = Precision::of(config.amp, run.device);
    let net = part_net(&vs.root(), network);
    // Under fp16 on a GPU the convolutions run fastest channels-last (cuDNN's NHWC tensor-core
    // kernels); in fp32 NCHW keeps the steps equal to the reference's. Before the optimiser
    // takes the parameters into its flat buffers, which keep each one's layout.
    let net = if precision == Precision::MixedFloat16 {
        net.channels_last(&vs)
    } else {
        net
    };
    let mut sgd = Sgd::new(
        &vs,
        SgdConfig {
            momentum: config.momentum,
            weight_decay: config.weight_decay,
            nesterov: true,
        },
    );
    let leads = run.leads();
    let across = run.group.map(|g| DataParallel::new(g, &vs));
    let (rank, world) = across
        .as_ref()
        .map_or((0, 1), |d| (d.rank(), d.world_size()));
    // Only rank 0 has a run folder; the others take its state below.
    let folder = if leads {
        Some(RunFolder::create(run.dir)?)
    } else {
        None
    };
    let mut state = match &folder {
        Some(folder) => {
            let (state, note) = folder.start(config, network, &vs, &mut sgd, &run)?;
            if let Some(note) = note {
                observer.note(&note);
            }
            state
        }
        None => RunState::fresh(config, network),
    };
    if leads {
        if state.weights.is_some() && state.world_size != world {
            return Err(EngineError::WorldSizeChanged {
                dir: run.dir.to_path_buf(),
                saved: state.world_size,
                now: world,
            });
        }
        state.world_size = world;
    }
    if let Some(dp) = &across {
        dp.start_from_leader(&mut state, &mut sgd)?;
    }
    let seed = rank_seed(config.seed, rank);
    let lr_factor = config.lr_scaling.factor(world);
    let stepper_amp = precision == Precision::MixedFloat16;
    let mut hooks = hooks::standard();
    for epoch in state.next_epoch..config.epochs {
        let lr = config.lr_at(epoch) * lr_factor;
        sgd.set_lrs(lr, lr * config.backbone_lr_ratio);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(epoch as u64 + 1);
        let mut batches = sampler.epoch(&mut rng);
        // An epoch still shows the training set once in all: each of the W ranks takes
        // 1/W of the steps (its own draw), each step W times the images.
        batches.truncate((batches.len() / world).max(1));
        // A resumed epoch skips the steps it already took.
        let mut tally = state.partial.take().unwrap_or_default();
        observer.epoch_start(epoch, batches.len(), tally.steps);
        let stepper = Stepper {
            net: &net,
            sgd: &mut sgd,
            device: run.device,
            amp: stepper_amp,
            loss_scale: &mut state.loss_scale,
            seed,
            across: across.as_ref(),
        };
        let stopped = run_epoch(
            config, data, &preset, &batches, epoch, &mut tally, stepper, stop, observer,
        )?;
        let Some(folder) = &folder else {
            // A rank other than 0: nothing to record; wait while rank 0 evaluates and saves.
            if stopped {
                return Ok((Outcome::Interrupted, state));
            }
            if let Some(dp) = &across {
                dp.barrier()?;
                if dp.any(stop.load(Ordering::SeqCst))? {
                    return Ok((Outcome::Interrupted, state));
                }
            }
            continue;
        };
        if stopped {
            // Stopped inside the epoch: save where it is, exactly.
            folder.commit(&vs, &sgd, &mut state, epoch, Some(tally))?;
            return Ok((Outcome::Interrupted, state));
        }
        let eval = if config.evaluates_after(epoch) {
            Some(evaluate(&net)?)
        } else {
            None
        };
        let mut record = epoch_record(
            epoch,
            lr,
            &tally,
            // Images of all ranks: the job's throughput.
            2 * config.ids_per_batch * config.images_per_id * world,
            eval,
        );
        if across.is_some() {
            record.seconds_exchanging = Some(tally.exchanging);
        }
        if stepper_amp {
            record.skipped_steps = tally.skipped;
            record.loss_scale = Some(state.loss_scale.scale);
        }
        state.history.push(record.clone());
        for hook in &mut hooks {
            hook.before_commit(&folder.dir, &vs, &record, &mut state)?;
        }
        folder.commit(&vs, &sgd, &mut state, epoch, None)?;
        for hook in &mut hooks {
            hook.after_commit(&folder.dir, &state)?;
        }
        observer.epoch_end(&record, &state);
        let mut stopping = stop.load(Ordering::SeqCst);
        if let Some(dp) = &across {
            dp.barrier()?;
            stopping = dp.any(stopping)?;
        }
        if stopping {
            return Ok((Outcome::Interrupted, state));
        }
    }
    if let Some(folder) = &folder {
        folder.save_last(&vs)?;
    }
    Ok((Outcome::Finished, state))
}

/// The training caches must hold images of the size the config trains at.
fn check_cache_sizes(config: &TrainConfig, data: &TrainData) -> Result<()> {
    let (h, w) = (config.height, config.width);
    for (what, cache) in [("visible", &data.visible), ("thermal", &data.thermal)] {
        let size = cache.size();
        if (size.height as usize, size.width as usize) != (h, w) {
            return Err(EngineError::CacheSize {
                what,
                found: format!("{}x{}", size.height, size.width),
                wanted: format!("{h}x{w}"),
            });
        }
    }
    Ok(())
}

/// Training identities: one classifier row per label of either modality.
fn classes(data: &TrainData) -> i64 {
    data.visible
        .labels()
        .iter()
        .chain(data.thermal.labels())
        .max()
        .map_or(0, |m| m + 1)
}

fn epoch_record(
    epoch: usize,
    lr: f64,
    tally: &Partial,
    images_per_step: usize,
    eval: Option<EvalScores>,
) -> EpochRecord {
    let n = tally.steps.max(1) as f64;
    EpochRecord {
        epoch,
        steps: tally.steps,
        lr,
        loss: tally.sums.total / n,
        identity: tally.sums.identity / n,
        triplet: tally.sums.triplet / n,
        images_per_second: (tally.steps * images_per_step) as f64 / tally.seconds.max(1e-9),
        seconds: tally.seconds,
        seconds_waiting: tally.waiting,
        seconds_stepping: tally.stepping,
        eval,
        skipped_steps: 0,
        loss_scale: None,
        seconds_exchanging: None,
    }
}
