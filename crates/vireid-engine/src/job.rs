//! A training job on a dataset root: everything that can be checked is, before any work; the
//! training cache is built (or found up to date) in the root; the periodic evaluation is the
//! test protocol on the first `eval_trials` galleries; then the loop of [`crate::trainer`].

use crate::config::TrainConfig;
use crate::error::{EngineError, Result};
use crate::evaluate::{evaluate_network, DecodedImages, ExtractionSettings, ProtocolImages};
use crate::progress::Progress;
use crate::trainer::{
    read_state, train, EvalScores, Observer, Outcome, RunOptions, RunState, TrainData,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use tch::Device;
use vireid_data::cache::{prepare, CachePaths, ImageCache};
use vireid_data::image_io::Size;
use vireid_data::{splits, train_set, Mode, Protocol, Shot};
use vireid_dist::ProcessGroup;
use vireid_eval::Score;
use vireid_hub::{Hub, Pretrained};

/// What to train and where.
#[derive(Debug, Clone, Copy)]
pub struct TrainJob<'a> {
    pub config: &'a TrainConfig,
    /// The dataset's root folder.
    pub root: &'a Path,
    /// The run folder.
    pub out: &'a Path,
    pub device: Device,
    pub resume: bool,
    /// Train data-parallel across this group (see [`crate::data_parallel`]).
    pub group: Option<&'a ProcessGroup>,
}

/// Runs `job`, reporting steps to `observer` and phases (cache, evaluation) to `progress`;
/// `stop` ends it at the next step, saved.
pub fn run(
    job: TrainJob<'_>,
    stop: &AtomicBool,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<(Outcome, RunState)> {
    let TrainJob {
        config,
        root,
        out,
        device,
        resume,
        group,
    } = job;
    config.validate()?;
    let leads = vireid_dist::leads(group);
    let dataset = config.dataset;
    if let Pretrained::File(p) = &config.pretrained {
        if !p.is_file() {
            return Err(EngineError::Config {
                key: "pretrained",
                why: format!("the weights {} do not exist (--pretrained)", p.display()),
            });
        }
    }
    // Other ranks neither read nor write the run folder (it may not even be on their machine).
    let saved = leads && read_state(out)?.is_some();
    if !resume && saved {
        return Err(EngineError::RunExists {
            dir: out.to_path_buf(),
        });
    }
    let size = Size::new(config.height as u32, config.width as u32);
    let set = train_set(dataset, root, config.trial)?;
    // Only a fresh run reads its starting weights: a resumed one has its own.
    let init = if saved || !leads {
        None
    } else {
        initial_weights(config, progress)?
    };
    let paths = CachePaths::new(root, dataset, config.trial, size);
    // Rank 0 builds the cache first; the others then find it up to date where they share its
    // disk, and build their own where they do not, without two processes writing one file.
    if !leads {
        group.map(ProcessGroup::barrier).transpose()?;
    }
    let tick = progress.phase("cache", (set.visible.len() + set.thermal.len()) as u64);
    prepare(root, &set, dataset, &paths, size, &|n| tick.inc(n as u64))?;
    drop(tick);
    if leads {
        group.map(ProcessGroup::barrier).transpose()?;
    }
    let data = TrainData {
        visible: ImageCache::open(&paths.visible_images, &paths.visible_labels)?,
        thermal: ImageCache::open(&paths.thermal_images, &paths.thermal_labels)?,
    };
    let protocol = Protocol {
        dataset,
        mode: Mode::All,
        shot: Shot::Single,
        direction: config.eval_direction(),
    };
    // RegDB evaluates on the trial it trains on; the others on their first galleries.
    let trials: Vec<u32> = if dataset.spec().training_trials.is_some() {
        vec![config.trial]
    } else {
        (0..config.eval_trials.max(1)).collect()
    };
    let split = splits(root, &protocol, &trials)?;
    let settings = ExtractionSettings {
        size,
        flip: config.eval_flip,
        batch: 64,
        device,
    };
    // Every periodic evaluation sees the same images: decoded once, kept for the next.
    let mut decoded = DecodedImages::default();
    let mut evaluate = |net: &vireid_nn::PartNet| -> Result<EvalScores> {
        let images = ProtocolImages {
            root,
            split: &split,
            direction: protocol.direction,
        };
        let e = evaluate_network(
            net,
            dataset,
            images,
            &settings,
            Some(&mut decoded),
            progress,
            "evaluate",
        )?;
        let m = &e.report.score(Score::Fused).mean;
        Ok(EvalScores {
            rank1: m.cmc[0],
            map: m.map,
            minp: m.minp,
        })
    };
    let run = RunOptions {
        dir: out,
        device,
        resume,
        init: init.as_deref(),
        group,
    };
    train(config, &data, run, &mut evaluate, stop, observer)
}

/// The file a fresh run of `config` starts from: `pretrained` as a path, or torchvision's
/// ImageNet weights for the backbone found on this machine or downloaded (a bar of MiB);
/// none for random weights.
fn initial_weights(config: &TrainConfig, progress: &dyn Progress) -> Result<Option<PathBuf>> {
    match &config.pretrained {
        Pretrained::None => Ok(None),
        Pretrained::File(p) => Ok(Some(p.clone())),
        Pretrained::ImageNet => {
            let hub = Hub::from_env();
            let backbone = config.backbone.name();
            let found = match hub.locate(backbone)? {
                Some(found) => found,
                None => {
                    progress.note(&format!(
                        "ImageNet weights for {backbone} are not on this machine: downloading \
                         them into {}",
                        hub.places
                            .own
                            .as_deref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ));
                    let tick = progress.phase("download MiB", 0);
                    let mut bytes = 0u64;
                    hub.download_paper(backbone, &mut |n, total| {
                        if let Some(t) = total {
                            tick.set_total(t.div_ceil(MIB));
                        }
                        let before = bytes / MIB;
                        bytes += n;
                        tick.inc(bytes / MIB - before);
                    })?
                }
            };
            progress.note(&format!(
                "ImageNet weights: {}{}",
                found.path.display(),
                if found.downloaded {
                    " (downloaded, sha256 checked)"
                } else {
                    ""
                }
            ));
            Ok(Some(found.path))
        }
    }
}

const MIB: u64 = 1 << 20;
