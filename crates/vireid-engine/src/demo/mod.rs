//! The demo: the whole system on a synthetic dataset in minutes: generate it, train a small
//! two-stream network (with RLE, and on request also without), test it over 10 trials with
//! the SYSU-MM01 protocol, and write a report folder a person can open ([`report`]).

pub mod report;
pub mod results;
pub mod seeds;

use crate::config::TrainConfig;
use crate::error::{write_atomic, EngineError, Result};
use crate::evaluate::{evaluate_network, DecodedImages, ExtractionSettings, ProtocolImages};
use crate::job::{self, TrainJob};
use crate::progress::Progress;
use crate::trainer::{Observer, Outcome};
use results::RunResult;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::Device;
use vireid_data::image_io::Size;
use vireid_data::synth::{generate, SynthConfig, SynthReport};
use vireid_data::{splits, Dataset, Direction, Mode, Protocol, Shot};
use vireid_hub::Pretrained;
use vireid_nn::{weights, Depth};

/// The demo's budget: ResNet-18 at 48 x 24 from random weights, a short schedule.
pub const DEMO_IDS: usize = 128;
/// Most people held out for the test: the test stays as hard when there are more people to
/// train on.
pub const DEMO_TEST_IDS: usize = 32;
pub const DEMO_EPOCHS: usize = 50;

/// The demo's training config for `epochs` epochs.
pub fn demo_config(epochs: usize, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::preset(Dataset::Sysu);
    c.backbone = Depth::R18;
    c.height = 48;
    c.width = 24;
    c.epochs = epochs;
    // From random weights the reference's 0.1 collapses the triplet term (every feature
    // alike); 0.01 for the whole network learns steadily.
    c.lr = 0.01;
    c.backbone_lr_ratio = 1.0;
    // The reference's 10 pixels at 384 x 192, scaled to the demo's size.
    c.pad = Some(2);
    c.warmup_epochs = (epochs / 25).max(1);
    c.lr_steps = vec![(epochs * 3 / 4).max(1)];
    c.eval_every = (epochs / 10).max(1);
    c.eval_from = 0;
    c.seed = seed;
    // Fixed by the demo's budget, not by a download.
    c.pretrained = Pretrained::None;
    c
}

fn synth_config(ids: usize, test_ids: Option<usize>, seed: u64) -> SynthConfig {
    let mut cfg = SynthConfig::new(Dataset::Sysu);
    cfg.ids = ids;
    cfg.test_ids = Some(test_ids.unwrap_or(cfg.test_people().min(DEMO_TEST_IDS)));
    cfg.seed = seed;
    // Many people with few images each: what generalises to unseen people is the number
    // of people seen, and an epoch stays short.
    cfg.images_per_camera = (1, 3);
    // Reached only when the demo's own marker is missing: a dataset there is one a killed
    // demo generated and did not record.
    cfg.replace = true;
    cfg
}

/// The dataset in `dir`, generated unless a previous demo left the same one there.
fn dataset(dir: &Path, cfg: &SynthConfig, progress: &dyn Progress) -> Result<SynthReport> {
    let marker = dir.join("synth.json");
    let wanted = serde_json::json!({
        "ids": cfg.ids,
        "seed": cfg.seed,
        "test_ids": cfg.test_ids,
        "images_per_camera": cfg.images_per_camera,
        "version": 5,
    });
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let found = serde_json::from_str::<serde_json::Value>(&text).ok();
        let config = found.as_ref().and_then(|f| f.get("config"));
        if config == Some(&wanted) {
            let report = found.as_ref().map(|f| f["report"].clone());
            if let Some(Ok(report)) = report.map(serde_json::from_value) {
                return Ok(report);
            }
        }
        // The same settings but another generator version: an older vireid's world.
        let older = config.is_some_and(|c| {
            let mut c = c.clone();
            c["version"] = wanted["version"].clone();
            c == wanted
        });
        let why = if older {
            "made by an older vireid, whose synthetic worlds differ"
        } else {
            "made with other --ids, --test-ids or --seed"
        };
        return Err(EngineError::Demo(format!(
            "{} holds another synthetic dataset ({why}); remove it or choose another --out",
            dir.display()
        )));
    }
    let tick = progress.phase("dataset", 0);
    let report = generate(dir, cfg, &|n, total| {
        tick.set_total(total as u64);
        tick.inc(n as u64)
    })?;
    drop(tick);
    let doc = serde_json::json!({ "config": wanted, "report": report });
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    write_atomic(&marker, text.as_bytes())?;
    Ok(report)
}

/// What a demo is asked to do.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Folder for everything: data/, rle/, baseline/ and report/.
    pub out: PathBuf,
    /// Also train without RLE.
    pub compare: bool,
    pub ids: usize,
    pub test_ids: Option<usize>,
    pub epochs: usize,
    /// A TOML file of training-config keys laid over the demo's.
    pub config: Option<PathBuf>,
    /// Gallery trials of the final test (1..=10).
    pub trials: u32,
    pub seed: u64,
    pub device: Device,
    /// Deterministic mode (the demo's default); the caller pins the process.
    pub deterministic: bool,
}

/// The search the demo tests: SYSU-MM01's all-search, single-shot, infrared to visible.
pub const PROTOCOL: &str = "sysu all-search single-shot infrared-to-visible";

/// What a demo did.
#[derive(Serialize)]
pub struct DemoResults {
    pub dataset: SynthReport,
    pub config: TrainConfig,
    pub protocol: &'static str,
    pub runs: Vec<RunResult>,
    pub report: PathBuf,
    pub seconds: f64,
}

/// How a demo ended.
pub enum DemoOutcome {
    Done(Box<DemoResults>),
    /// Stopped (Ctrl-C) while training; the same command continues from `next_epoch`.
    Stopped {
        next_epoch: usize,
    },
}

/// The demo's training config: its own, with the `config` file's keys laid over it.
pub fn resolved_config(o: &DemoOptions) -> Result<TrainConfig> {
    let mut config = demo_config(o.epochs, o.seed);
    config.deterministic = o.deterministic;
    if let Some(path) = &o.config {
        config = config.with_toml_file(path)?;
    }
    if config.dataset != Dataset::Sysu {
        return Err(EngineError::Config {
            key: "dataset",
            why: format!(
                "the demo's data is in the SYSU-MM01 layout; its config cannot set dataset = {:?}",
                config.dataset.name()
            ),
        });
    }
    config.validate()?;
    Ok(config)
}

/// Runs the demo: dataset, training (resumed where a previous demo stopped), the test, the
/// report.
pub fn run(
    o: &DemoOptions,
    stop: &AtomicBool,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<DemoOutcome> {
    let start = Instant::now();
    if o.epochs < 1 || !(1..=10).contains(&o.trials) {
        return Err(EngineError::Demo(
            "the demo needs at least 1 epoch and 1 to 10 trials".into(),
        ));
    }
    let config = resolved_config(o)?;
    let data_dir = o.out.join("data");
    let synth = dataset(
        &data_dir,
        &synth_config(o.ids, o.test_ids, o.seed),
        progress,
    )?;
    progress.note(&format!(
        "dataset: {} synthetic people ({} train, {} test), {} visible and {} infrared images in {}",
        synth.ids,
        synth.train_ids,
        synth.test_ids,
        synth.visible_images,
        synth.infrared_images,
        data_dir.display()
    ));
    let variants: &[(&str, bool)] = if o.compare {
        &[("rle", true), ("baseline", false)]
    } else {
        &[("rle", true)]
    };
    let protocol = Protocol {
        dataset: Dataset::Sysu,
        mode: Mode::All,
        shot: Shot::Single,
        direction: Direction::InfraredToVisible,
    };
    let trials: Vec<u32> = (0..o.trials).collect();
    let split = splits(&data_dir, &protocol, &trials)?;
    let settings = ExtractionSettings {
        size: Size::new(config.height as u32, config.width as u32),
        flip: true,
        batch: 64,
        device: o.device,
    };
    let mut results = Vec::new();
    let mut ranked = None;
    // Both runs are tested on the same images: decoded once.
    let mut decoded = DecodedImages::default();
    for &(name, rle) in variants {
        let run_config = TrainConfig {
            rle,
            ..config.clone()
        };
        let dir = o.out.join(name);
        progress.note(&format!(
            "training {name} ({}, {}x{}, {} epochs{}) into {}",
            run_config.backbone.name(),
            run_config.height,
            run_config.width,
            run_config.epochs,
            if rle { ", RLE on" } else { ", RLE off" },
            dir.display()
        ));
        let t = Instant::now();
        let job = TrainJob {
            config: &run_config,
            root: &data_dir,
            out: &dir,
            device: o.device,
            resume: dir.join("state.json").exists(),
            group: None,
        };
        let (outcome, state) = job::run(job, stop, observer, progress)?;
        let seconds_training = t.elapsed().as_secs_f64();
        if outcome == Outcome::Interrupted || stop.load(Ordering::SeqCst) {
            return Ok(DemoOutcome::Stopped {
                next_epoch: state.next_epoch,
            });
        }
        // The final weights: choosing an epoch by its test score would flatter the result.
        let (_vs, net, _) = weights::load_network(&dir.join("last.safetensors"), o.device)?;
        let images = ProtocolImages {
            root: &data_dir,
            split: &split,
            direction: protocol.direction,
        };
        let e = evaluate_network(
            &net,
            Dataset::Sysu,
            images,
            &settings,
            Some(&mut decoded),
            progress,
            "test",
        )?;
        // The run folder keeps its final test, for `vireid summary`.
        let record = vireid_eval::summary::TestRecord {
            checkpoint: "last.safetensors".into(),
            epochs: state.next_epoch,
            protocol: PROTOCOL.into(),
            trials: e.report.trials.len(),
            scores: vireid_eval::summary::Scores::of(&e.report),
        };
        write_atomic(
            &dir.join(vireid_eval::summary::TEST_FILE),
            record.document(&e.report).as_bytes(),
        )?;
        let shared = e.shared.expect("the SYSU-MM01 protocol shares one query");
        if ranked.is_none() {
            let first = e.per_trial.into_iter().next().expect("a trial");
            ranked = Some((shared, first.2));
        }
        results.push(RunResult {
            name: name.to_string(),
            rle,
            dir,
            epochs: state.next_epoch,
            seconds_training,
            report: e.report,
        });
    }
    let report_dir = o.out.join("report");
    let (query, gallery) = ranked.expect("at least one run");
    let search_page = search_page(
        &report_dir,
        &data_dir,
        &results[0].dir.join("last.safetensors"),
        &split,
        results[0].report.alpha,
        o.device,
        stop,
        progress,
    )?;
    report::write(
        &report_dir,
        &report::Inputs {
            root: &data_dir,
            synth: &synth,
            config: &config,
            query: (split.query.as_deref().unwrap_or_default(), &query),
            gallery: (&split.trials[0].gallery, &gallery),
            alpha: results[0].report.alpha,
            runs: &results,
            search_page: search_page.as_deref(),
        },
    )?;
    Ok(DemoOutcome::Done(Box::new(DemoResults {
        dataset: synth,
        config,
        protocol: PROTOCOL,
        runs: results,
        report: report_dir.join("index.html"),
        seconds: start.elapsed().as_secs_f64(),
    })))
}

/// Queries on the demo's search page.
const SEARCH_QUERIES: usize = 24;

/// The report's search page, made as a user would make it: `vireid embed` of the test
/// people's infrared queries and of the first trial's visible gallery with the first run's
/// final weights (into `report/search/`), then `vireid search` (top 10, the same person
/// marked from the folders) into `report/search.html`. Returns the page's name beside
/// index.html, or none when stopped.
#[allow(clippy::too_many_arguments)]
fn search_page(
    report_dir: &Path,
    data_dir: &Path,
    checkpoint: &Path,
    split: &vireid_data::Split,
    alpha: f32,
    device: tch::Device,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<Option<String>> {
    use crate::embed::{embed, trained_size, EmbedOutcome, EmbedRequest};
    use vireid_eval::search::top_k;
    let dir = report_dir.join("search");
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::Write {
        path: dir.clone(),
        source,
    })?;
    let queries: Vec<PathBuf> = split
        .query
        .as_deref()
        .unwrap_or_default()
        .iter()
        .take(SEARCH_QUERIES)
        .map(|e| data_dir.join(&e.path))
        .collect();
    let gallery: Vec<PathBuf> = split.trials[0]
        .gallery
        .iter()
        .map(|e| data_dir.join(&e.path))
        .collect();
    let size = trained_size(checkpoint).ok_or_else(|| {
        EngineError::Demo(format!(
            "{}: no config.toml beside it",
            checkpoint.display()
        ))
    })?;
    let mut files = Vec::new();
    for (name, images, modality) in [
        ("queries", &queries, vireid_nn::Modality::Thermal),
        ("gallery", &gallery, vireid_nn::Modality::Visible),
    ] {
        let out = dir.join(format!("{name}.safetensors"));
        let request = EmbedRequest {
            checkpoint,
            modality,
            images,
            size,
            flip: true,
            batch: 64,
            device,
            out: &out,
            skip_unreadable: false,
            chunk: 512,
        };
        if let EmbedOutcome::Stopped { .. } = embed(&request, stop, progress)? {
            return Ok(None);
        }
        files.push(vireid_eval::embeddings::read(&out)?);
    }
    let hits = top_k(files[0].features(), files[1].features(), alpha, 10)?;
    let ranked =
        vireid_eval::search_page::ranked(&files[0].paths(), &files[1].paths(), &hits, true);
    let name = "search.html";
    write_atomic(
        &report_dir.join(name),
        vireid_eval::search_page::page(&ranked, alpha).as_bytes(),
    )?;
    Ok(Some(name.to_string()))
}
