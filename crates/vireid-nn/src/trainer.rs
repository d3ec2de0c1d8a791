//! The training loop (SPEC sections 3, 5, 6): identity-sampled batches augmented on a
//! background thread while the current step runs, the reference's schedule, evaluation every
//! few epochs keeping the best checkpoint, and a run folder that a killed run resumes from
//! with the same final weights as an uninterrupted one.
//!
//! Every random stream derives from the one seed: libtorch's (initialisation only), the
//! sampler's (one ChaCha stream per epoch) and the augmentation's (one per image, indexed by
//! epoch, step and position), so resuming, at an epoch boundary or after any step of a
//! stopped epoch, replays exactly.

use crate::amp::{train_step_amp, LossScale};
use crate::config::TrainConfig;
use crate::error::{NnError, Result};
use crate::network::{part_net, NetConfig, PartNet};
use crate::resnet::Depth;
use crate::sgd::{Sgd, SgdConfig};
use crate::step::{train_step, StepLosses};
use crate::weights;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Tensor};
use vireid_augment::{augment_batch, Preset, SourceImage};
use vireid_data::cache::ImageCache;
use vireid_data::sampler::IdentitySampler;

/// The training images, as the prepared caches hold them (uint8 N x H x W x 3, labels).
pub struct TrainData {
    pub visible: ImageCache,
    pub thermal: ImageCache,
}

/// What evaluation reports to the loop (fractions).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct EvalScores {
    pub rank1: f64,
    pub map: f64,
    pub minp: f64,
}

/// One finished epoch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    #[serde(default)]
    pub steps: usize,
    pub lr: f64,
    pub loss: f64,
    pub identity: f64,
    pub triplet: f64,
    pub images_per_second: f64,
    pub seconds: f64,
    /// Of `seconds`: time the steps waited for a prepared batch (0 when the input pipeline
    /// keeps ahead), and time in the steps themselves.
    #[serde(default)]
    pub seconds_waiting: f64,
    #[serde(default)]
    pub seconds_stepping: f64,
    pub eval: Option<EvalScores>,
}

/// The run folder's state.json: everything a resume needs besides the two tensor files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub config: TrainConfig,
    pub network: NetConfig,
    /// The first epoch not yet done.
    pub next_epoch: usize,
    pub weights: Option<String>,
    pub optimizer: Option<String>,
    pub best: Option<(usize, EvalScores)>,
    pub history: Vec<EpochRecord>,
    /// Set when the run stopped inside epoch `next_epoch`: how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// The mixed-precision loss scale (CUDA with `amp` only).
    #[serde(default)]
    pub loss_scale: LossScale,
}

/// An epoch stopped part-way (Ctrl-C): the steps done and what they summed to, so that the
/// resumed epoch continues with the next batch and reports the same means.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Partial {
    pub steps: usize,
    pub sums: StepLosses,
    pub seconds: f64,
    #[serde(default)]
    pub waiting: f64,
    #[serde(default)]
    pub stepping: f64,
}

/// Receives what the loop does, for progress bars and logs.
pub trait Observer {
    /// An epoch of `steps` steps starts, of which `done` were done before a resume.
    fn epoch_start(&mut self, _epoch: usize, _steps: usize, _done: usize) {}
    fn step(&mut self, _losses: &StepLosses, _images_per_second: f64) {}
    fn epoch_end(&mut self, _record: &EpochRecord, _state: &RunState) {}
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    /// Stopped on request (Ctrl-C) after saving: at the end of an epoch, or inside one
    /// (`RunState::partial`).
    Interrupted,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// The project's atomic write (temporary file, fsync, rename), with our error type.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    vireid_data::cache::write_atomic(path, bytes).map_err(|e| NnError::Write {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

/// Reads a run folder's state, if it has one.
pub fn read_state(dir: &Path) -> Result<Option<RunState>> {
    let path = state_path(dir);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| NnError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| NnError::Input(format!("{}: not a vireid run state: {e}", path.display())))
}

/// The network a config asks for, with `classes` training identities.
pub fn net_config(config: &TrainConfig, classes: i64) -> Result<NetConfig> {
    let depth = Depth::by_name(&config.backbone).ok_or_else(|| {
        NnError::Input(format!(
            "unknown backbone {:?}: expected resnet18, resnet34 or resnet50",
            config.backbone
        ))
    })?;
    Ok(NetConfig::for_dataset(&config.dataset, depth, classes))
}

fn preset(config: &TrainConfig) -> Result<Preset> {
    let p = Preset::by_name(&config.dataset)
        .ok_or_else(|| NnError::Input(format!("no augmentation preset for {}", config.dataset)))?
        .with_size(config.height, config.width);
    let p = Preset {
        pad: config.pad.unwrap_or(p.pad),
        ..p
    };
    Ok(if config.rle {
        p
    } else {
        Preset {
            mrle: None,
            rrle: None,
            ..p
        }
    })
}

/// A seed for the augmentation of epoch `epoch`, distinct per epoch.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn sources<'a>(cache: &'a ImageCache, idx: &[usize], h: usize, w: usize) -> Vec<SourceImage<'a>> {
    idx.iter()
        .map(|&i| SourceImage {
            pixels: cache.image(i),
            height: h,
            width: w,
        })
        .collect()
}

struct Prepared {
    visible: Vec<f32>,
    thermal: Vec<f32>,
    labels: Vec<i64>,
}

/// Where and how a run goes.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    /// The run folder (created if needed).
    pub dir: &'a Path,
    pub device: Device,
    /// Continue the run the folder holds.
    pub resume: bool,
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
    let created = !run.dir.exists();
    let result = train_in(config, data, run, evaluate, stop, observer);
    // A run that failed before its first commit leaves no folder behind, so that the same
    // command, corrected, starts afresh instead of finding "a run" of one config file.
    if result.is_err() && created && !state_path(run.dir).exists() {
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
    let RunOptions {
        dir,
        device,
        resume,
    } = run;
    std::fs::create_dir_all(dir).map_err(|source| NnError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (h, w) = (config.height, config.width);
    for (what, cache) in [("visible", &data.visible), ("thermal", &data.thermal)] {
        let size = cache.size();
        if (size.height as usize, size.width as usize) != (h, w) {
            return Err(NnError::Input(format!(
                "the {what} cache holds {}x{} images but the config trains at {h}x{w}",
                size.height, size.width
            )));
        }
    }
    NetConfig::check_height(h).map_err(NnError::Input)?;
    let sampler = IdentitySampler::new(
        data.visible.labels(),
        data.thermal.labels(),
        config.ids_per_batch,
        config.images_per_id,
    )
    .map_err(|e| NnError::Input(e.to_string()))?;
    if config.ids_per_batch < 2 {
        return Err(NnError::Input(
            "ids_per_batch must be at least 2: the triplet loss needs another identity".into(),
        ));
    }
    let classes = data
        .visible
        .labels()
        .iter()
        .chain(data.thermal.labels())
        .max()
        .map_or(0, |m| m + 1);
    let network = net_config(config, classes)?;
    let preset = preset(config)?;

    tch::manual_seed(config.seed as i64);
    let vs = VarStore::new(device);
    let net = part_net(&vs.root(), network);
    let mut sgd = Sgd::new(
        &vs,
        SgdConfig {
            momentum: config.momentum,
            weight_decay: config.weight_decay,
            nesterov: true,
        },
    );
    let mut state = match read_state(dir)? {
        Some(old) if resume => {
            // Only the number of epochs may change: a finished run can be extended.
            let same = TrainConfig {
                epochs: config.epochs,
                ..old.config.clone()
            };
            if same != *config {
                return Err(NnError::Input(format!(
                    "{} was trained with another config; resume with the saved one ({}), \
                     or train into a new folder",
                    dir.display(),
                    dir.join("config.toml").display()
                )));
            }
            if let (Some(wf), Some(of)) = (&old.weights, &old.optimizer) {
                let w = weights::read(&dir.join(wf))?;
                weights::load_into(&vs, &w, &network)?;
                let buffers = Tensor::read_safetensors(dir.join(of))?;
                sgd.load_state(buffers)?;
            }
            RunState {
                config: config.clone(),
                ..old
            }
        }
        Some(_) => {
            return Err(NnError::Input(format!(
                "{} already holds a run; pass --resume to continue it or choose another folder",
                dir.display()
            )))
        }
        None => {
            if let Some(p) = &config.pretrained {
                weights::load_imagenet(&vs, &weights::read(p)?)?;
            }
            RunState {
                config: config.clone(),
                network,
                next_epoch: 0,
                weights: None,
                optimizer: None,
                best: None,
                history: Vec::new(),
                partial: None,
                loss_scale: LossScale::default(),
            }
        }
    };
    write_atomic(&dir.join("config.toml"), config.to_toml().as_bytes())?;

    let amp = config.amp && device.is_cuda();
    let bk = config.ids_per_batch * config.images_per_id;
    let image_len = 3 * h * w;
    for epoch in state.next_epoch..config.epochs {
        let lr = config.lr_at(epoch);
        sgd.set_lrs(lr, lr * config.backbone_lr_ratio);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(epoch as u64 + 1);
        let batches = sampler.epoch(&mut rng);
        // A resumed epoch skips the steps it already took: batch k is the same batch
        // whatever came before it (sampler and augmentation are seeded by epoch and position).
        let partial = state.partial.take();
        let skip = partial.map_or(0, |p| p.steps);
        observer.epoch_start(epoch, batches.len(), skip);
        let start = Instant::now();
        let seed = epoch_seed(config.seed, epoch);
        let mut sums = partial.map_or(StepLosses::default(), |p| p.sums);
        let earlier = partial.map_or(0.0, |p| p.seconds);
        let mut steps = skip;
        let mut loss_scale = state.loss_scale;
        let (mut waiting, mut stepping) = partial.map_or((0.0, 0.0), |p| (p.waiting, p.stepping));
        let result: Result<bool> = std::thread::scope(|scope| {
            let (tx, rx) = sync_channel::<Result<Prepared>>(config.prefetch.max(1));
            let batches = &batches;
            let preset = &preset;
            scope.spawn(move || {
                for (step, b) in batches.iter().enumerate().skip(skip) {
                    let first = (step * 2 * bk) as u64;
                    let mut visible = vec![0f32; bk * image_len];
                    let mut thermal = vec![0f32; bk * image_len];
                    let done = augment_batch(
                        preset,
                        &sources(&data.visible, &b.visible, h, w),
                        seed,
                        first,
                        &mut visible,
                    )
                    .and_then(|_| {
                        augment_batch(
                            preset,
                            &sources(&data.thermal, &b.thermal, h, w),
                            seed,
                            first + bk as u64,
                            &mut thermal,
                        )
                    })
                    .map_err(|e| NnError::Input(e.to_string()))
                    .map(|_| Prepared {
                        visible,
                        thermal,
                        labels: b.labels.iter().chain(&b.labels).copied().collect(),
                    });
                    if tx.send(done).is_err() {
                        return;
                    }
                }
            });
            let shape = [bk as i64, 3, h as i64, w as i64];
            loop {
                let asked = Instant::now();
                let Ok(prepared) = rx.recv() else { break };
                waiting += asked.elapsed().as_secs_f64();
                let stepping_from = Instant::now();
                let p = prepared?;
                let vis = Tensor::from_slice(&p.visible).view(shape).to_device(device);
                let thr = Tensor::from_slice(&p.thermal).view(shape).to_device(device);
                let labels = Tensor::from_slice(&p.labels).to_device(device);
                // The same step but for autocast and the loss scale (see amp.rs).
                let losses = if amp {
                    train_step_amp(&net, &mut sgd, &mut loss_scale, &vis, &thr, &labels)?
                } else {
                    train_step(&net, &mut sgd, &vis, &thr, &labels)?
                };
                if !losses.total.is_finite() {
                    return Err(NnError::Input(format!(
                        "the loss became {} at epoch {epoch}, step {steps}: lower the lr",
                        losses.total
                    )));
                }
                stepping += stepping_from.elapsed().as_secs_f64();
                sums.total += losses.total;
                sums.identity += losses.identity;
                sums.triplet += losses.triplet;
                steps += 1;
                let rate =
                    ((steps - skip) * 2 * bk) as f64 / start.elapsed().as_secs_f64().max(1e-9);
                observer.step(&losses, rate);
                if steps < batches.len() && stop.load(Ordering::SeqCst) {
                    // Leaving the loop drops the receiver: the producer stops at its next send.
                    return Ok(true);
                }
            }
            Ok(false)
        });
        state.loss_scale = loss_scale;
        if result? {
            // Stopped inside the epoch: save where it is, exactly, and say so.
            let partial = Partial {
                steps,
                sums,
                seconds: earlier + start.elapsed().as_secs_f64(),
                waiting,
                stepping,
            };
            let wname = format!("epoch{epoch}.step{steps}.safetensors");
            let oname = format!("epoch{epoch}.step{steps}.optim.safetensors");
            commit(
                dir,
                &vs,
                &sgd,
                &mut state,
                (wname, oname),
                epoch,
                Some(partial),
            )?;
            return Ok((Outcome::Interrupted, state));
        }
        let seconds = earlier + start.elapsed().as_secs_f64();
        let due = config.eval_every > 0
            && epoch >= config.eval_from
            && (epoch - config.eval_from) % config.eval_every == 0;
        let due = due || (config.eval_every > 0 && epoch + 1 == config.epochs);
        let eval = if due { Some(evaluate(&net)?) } else { None };
        let n = steps.max(1) as f64;
        let record = EpochRecord {
            epoch,
            steps,
            lr,
            loss: sums.total / n,
            identity: sums.identity / n,
            triplet: sums.triplet / n,
            images_per_second: (steps * 2 * bk) as f64 / seconds.max(1e-9),
            seconds,
            seconds_waiting: waiting,
            seconds_stepping: stepping,
            eval,
        };
        if let Some(e) = eval {
            if state.best.is_none_or(|(_, b)| e.rank1 > b.rank1) {
                weights::save(&vs, &dir.join("best.safetensors"))?;
                state.best = Some((epoch, e));
            }
        }
        state.history.push(record.clone());
        let names = (
            format!("epoch{epoch}.safetensors"),
            format!("epoch{epoch}.optim.safetensors"),
        );
        commit(dir, &vs, &sgd, &mut state, names, epoch + 1, None)?;
        write_metrics(dir, &state.history)?;
        crate::curves::write_png(&state.history, &dir.join("curves.png"))?;
        observer.epoch_end(&record, &state);
        if stop.load(Ordering::SeqCst) {
            return Ok((Outcome::Interrupted, state));
        }
    }
    // The final weights under a stable name.
    weights::save(&vs, &dir.join("last.safetensors"))?;
    Ok((Outcome::Finished, state))
}

/// Saves the weights and optimiser state under `names`, then the state that points at them
/// (the commit point), then removes the previous files: a run killed at any moment leaves a
/// consistent folder.
fn commit(
    dir: &Path,
    vs: &VarStore,
    sgd: &Sgd,
    state: &mut RunState,
    names: (String, String),
    next_epoch: usize,
    partial: Option<Partial>,
) -> Result<()> {
    let (wname, oname) = names;
    weights::save(vs, &dir.join(&wname))?;
    weights::save_tensors(sgd.state(), &dir.join(&oname))?;
    let old = (state.weights.take(), state.optimizer.take());
    state.weights = Some(wname);
    state.optimizer = Some(oname);
    state.next_epoch = next_epoch;
    state.partial = partial;
    let json = serde_json::to_vec_pretty(&state).expect("state serialises");
    write_atomic(&state_path(dir), &json)?;
    for f in [old.0, old.1].into_iter().flatten() {
        if Some(&f) != state.weights.as_ref() && Some(&f) != state.optimizer.as_ref() {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    Ok(())
}

/// metrics.csv and metrics.jsonl, rewritten from the history (short; atomic).
fn write_metrics(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut csv =
        String::from("epoch,lr,loss,identity,triplet,images_per_second,seconds,rank1,mAP,mINP,seconds_waiting,seconds_stepping\n");
    let mut jsonl = String::new();
    for r in history {
        let (r1, map, minp) = r
            .eval
            .map_or((String::new(), String::new(), String::new()), |e| {
                (
                    format!("{}", e.rank1),
                    format!("{}", e.map),
                    format!("{}", e.minp),
                )
            });
        csv.push_str(&format!(
            "{},{},{},{},{},{:.2},{:.2},{r1},{map},{minp},{:.3},{:.3}\n",
            r.epoch,
            r.lr,
            r.loss,
            r.identity,
            r.triplet,
            r.images_per_second,
            r.seconds,
            r.seconds_waiting,
            r.seconds_stepping
        ));
        jsonl.push_str(&serde_json::to_string(r).expect("record serialises"));
        jsonl.push('\n');
    }
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())?;
    write_atomic(&dir.join("metrics.jsonl"), jsonl.as_bytes())
}
