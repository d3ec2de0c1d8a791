//! A training job on a dataset root: everything that can be checked is, before any work; the
//! training cache is built (or found up to date) in the root; the periodic evaluation is the
//! test protocol on the first `eval_trials` galleries; then the loop of [`crate::trainer`].

use crate::config::TrainConfig;
use crate::error::{EngineError, Result};
use crate::evaluate::{evaluate_network, ExtractionSettings, ProtocolImages};
use crate::progress::Progress;
use crate::trainer::{
    read_state, train, EvalScores, Observer, Outcome, RunOptions, RunState, TrainData,
};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use tch::Device;
use vireid_data::cache::{prepare, CachePaths, ImageCache};
use vireid_data::image_io::Size;
use vireid_data::{splits, train_set, Mode, Protocol, Shot};
use vireid_eval::Score;

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
    } = job;
    config.validate()?;
    let dataset = config.dataset;
    if let Some(p) = &config.pretrained {
        if !p.is_file() {
            return Err(EngineError::Config {
                key: "pretrained",
                why: format!("the weights {} do not exist (--pretrained)", p.display()),
            });
        }
    }
    if !resume && read_state(out)?.is_some() {
        return Err(EngineError::RunExists {
            dir: out.to_path_buf(),
        });
    }
    let size = Size::new(config.height as u32, config.width as u32);
    let set = train_set(dataset, root, config.trial)?;
    let paths = CachePaths::new(root, dataset, config.trial, size);
    let tick = progress.phase("cache", (set.visible.len() + set.thermal.len()) as u64);
    prepare(root, &set, dataset, &paths, size, &|n| tick.inc(n as u64))?;
    drop(tick);
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
    let mut evaluate = |net: &vireid_nn::PartNet| -> Result<EvalScores> {
        let images = ProtocolImages {
            root,
            split: &split,
            direction: protocol.direction,
        };
        let e = evaluate_network(net, dataset, images, &settings, None, progress, "evaluate")?;
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
    };
    train(config, &data, run, &mut evaluate, stop, observer)
}
