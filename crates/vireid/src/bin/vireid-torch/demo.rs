//! `vireid demo`: the whole system on a synthetic dataset in minutes: generate, train a small
//! two-stream network (with RLE, and with --compare also without), test it over 10 trials
//! with the SYSU-MM01 protocol, and write a report folder a person can open.

use crate::extract::set_threads;
use crate::report;
use crate::train::{stop_on_ctrl_c, train_on};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;
use vireid::commands::print_json;
use vireid_data::image_io::Size;
use vireid_data::synth::{generate, SynthConfig, SynthReport};
use vireid_data::{splits, Dataset, Direction, Mode, Protocol, Shot};
use vireid_eval::report::trial_table;
use vireid_eval::{Score, TrialReport};
use vireid_nn::config::TrainConfig;
use vireid_nn::evaluate::{score_trials, trial_features, ExtractionSettings, ProtocolImages};
use vireid_nn::trainer::{Outcome, RunState};
use vireid_nn::{parse_device, weights};

/// The demo's budget: ResNet-18 at 48 x 24 from random weights, a short schedule.
pub const DEMO_IDS: usize = 128;
/// Most people held out for the test: the test stays as hard when there are more people to
/// train on.
pub const DEMO_TEST_IDS: usize = 32;
pub const DEMO_EPOCHS: usize = 50;

/// Generate a synthetic cross-spectral dataset (SYSU-MM01 layout), train the two-stream part
/// network on it (ResNet-18, 48 x 24, RLE on), test it over 10 trials (all-search,
/// single-shot, infrared to visible) and write OUT/report/index.html with the results table,
/// training curves, an augmentation grid and ranked lists. Runs in minutes on two CPU cores;
/// run it again to reuse what is already done (an interrupted training run resumes).
#[derive(clap::Args)]
pub struct Args {
    /// Folder for everything: data/ (the dataset), rle/ and baseline/ (training runs) and
    /// report/ (the results).
    #[arg(long, default_value = "demo")]
    out: PathBuf,
    /// Also train without RLE (same budget, same seed) and put both rows in the table.
    #[arg(long)]
    compare: bool,
    /// Identities in the synthetic dataset (train and test).
    #[arg(long, default_value_t = DEMO_IDS)]
    ids: usize,
    /// Of those, people held out for the test (default: a third of --ids, at most 32).
    #[arg(long)]
    test_ids: Option<usize>,
    /// Training epochs (the demo's schedule is scaled to them).
    #[arg(long, default_value_t = DEMO_EPOCHS)]
    epochs: usize,
    /// A TOML file of training-config keys laid over the demo's (see `vireid train`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Gallery trials of the final test (the field reports the mean of 10).
    #[arg(long, default_value_t = 10)]
    trials: u32,
    /// One seed for the dataset, sampling, augmentation and initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu, cuda or cuda:K.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON document (the results) instead of tables.
    #[arg(long)]
    json: bool,
}

/// The demo's training config for `epochs` epochs.
pub fn demo_config(epochs: usize, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::preset("sysu").expect("sysu has a preset");
    c.backbone = "resnet18".into();
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
    c
}

/// One trained variant's test results.
#[derive(Serialize)]
pub struct RunResult {
    pub name: String,
    pub rle: bool,
    pub dir: PathBuf,
    pub epochs: usize,
    pub seconds_training: f64,
    pub report: TrialReport,
}

#[derive(Serialize)]
struct Results<'a> {
    dataset: &'a SynthReport,
    config: &'a TrainConfig,
    protocol: &'static str,
    runs: &'a [RunResult],
    report: PathBuf,
    seconds: f64,
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
fn dataset(dir: &Path, cfg: &SynthConfig, quiet: bool) -> Result<SynthReport> {
    let marker = dir.join("synth.json");
    let wanted = serde_json::json!({
        "ids": cfg.ids,
        "seed": cfg.seed,
        "test_ids": cfg.test_ids,
        "images_per_camera": cfg.images_per_camera,
        "version": 3,
    });
    if let Ok(text) = std::fs::read_to_string(&marker) {
        if let Ok(found) = serde_json::from_str::<serde_json::Value>(&text) {
            if found.get("config") == Some(&wanted) {
                if let Ok(report) = serde_json::from_value(found["report"].clone()) {
                    return Ok(report);
                }
            }
        }
        bail!(
            "{} holds another synthetic dataset (made with other --ids, --test-ids or --seed); \
             remove it or choose another --out",
            dir.display()
        );
    }
    let pb = vireid::progress::bar(0, "dataset", quiet);
    let report = generate(dir, cfg, &|n, total| {
        pb.set_length(total as u64);
        pb.inc(n as u64)
    })?;
    pb.finish_and_clear();
    let doc = serde_json::json!({ "config": wanted, "report": report });
    vireid_data::cache::write_atomic(&marker, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    Ok(report)
}

pub fn run(a: Args) -> Result<()> {
    let start = Instant::now();
    set_threads(a.threads);
    let device = parse_device(&a.device)?;
    anyhow::ensure!(a.epochs >= 1, "--epochs must be at least 1");
    anyhow::ensure!((1..=10).contains(&a.trials), "--trials must be 1..10");
    vireid::commands::ensure_writable(&a.out, "--out")?;
    let quiet = a.json;
    let mut config = demo_config(a.epochs, a.seed);
    if let Some(path) = &a.config {
        config = config.with_toml_file(path)?;
    }
    anyhow::ensure!(
        config.dataset == "sysu",
        "the demo's data is in the SYSU-MM01 layout; its config cannot set dataset = {:?}",
        config.dataset
    );
    config.validate()?;
    let data_dir = a.out.join("data");
    let synth = dataset(&data_dir, &synth_config(a.ids, a.test_ids, a.seed), quiet)?;
    if !quiet {
        eprintln!(
            "dataset: {} synthetic people ({} train, {} test), {} visible and {} infrared images in {}",
            synth.ids,
            synth.train_ids,
            synth.test_ids,
            synth.visible_images,
            synth.infrared_images,
            data_dir.display()
        );
    }
    let stop = stop_on_ctrl_c();
    let variants: &[(&str, bool)] = if a.compare {
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
    let trials: Vec<u32> = (0..a.trials).collect();
    let split = splits(&data_dir, &protocol, &trials)?;
    let settings = ExtractionSettings {
        size: Size::new(config.height as u32, config.width as u32),
        flip: true,
        batch: 64,
        device,
    };
    let mut results = Vec::new();
    let mut ranked = None;
    for &(name, rle) in variants {
        let run_config = TrainConfig {
            rle,
            ..config.clone()
        };
        let dir = a.out.join(name);
        if !quiet {
            eprintln!(
                "training {name} ({}, {}x{}, {} epochs{}) into {}",
                run_config.backbone,
                run_config.height,
                run_config.width,
                run_config.epochs,
                if rle { ", RLE on" } else { ", RLE off" },
                dir.display()
            );
        }
        let t = Instant::now();
        let resume = dir.join("state.json").exists();
        let (outcome, state): (Outcome, RunState) =
            train_on(&run_config, &data_dir, &dir, device, resume, quiet, &stop)?;
        let seconds_training = t.elapsed().as_secs_f64();
        if outcome == Outcome::Interrupted || stop.load(Ordering::SeqCst) {
            println!(
                "stopped; run the same command again to continue from epoch {}",
                state.next_epoch
            );
            return Ok(());
        }
        // The final weights: choosing an epoch by its test score would flatter the result.
        let (_vs, net, _) = weights::load_network(&dir.join("last.safetensors"), device)?;
        let images = ProtocolImages {
            root: &data_dir,
            split: &split,
            direction: protocol.direction,
        };
        let members: Vec<usize> = (0..split.trials.len()).collect();
        let (q, g) = vireid_nn::evaluate::image_count(&split, &members);
        let pb = vireid::progress::bar((q + g) as u64, "test", quiet);
        let (shared, per_trial) =
            trial_features(&net, images, &members, &settings, true, &mut |n| {
                pb.inc(n as u64)
            })?;
        pb.finish_and_clear();
        let shared = shared.context("the SYSU-MM01 protocol shares one query")?;
        let report = score_trials(
            Dataset::Sysu,
            protocol.direction,
            Some(&shared),
            &per_trial,
            None,
            false,
        )?;
        if ranked.is_none() {
            ranked = Some((shared, per_trial.into_iter().next().expect("a trial").2));
        }
        results.push(RunResult {
            name: name.to_string(),
            rle,
            dir,
            epochs: state.next_epoch,
            seconds_training,
            report,
        });
    }
    let report_dir = a.out.join("report");
    let (query, gallery) = ranked.expect("at least one run");
    report::write(
        &report_dir,
        &report::Inputs {
            root: &data_dir,
            synth: &synth,
            config: &config,
            query: (&split.query.clone().unwrap_or_default(), &query),
            gallery: (&split.trials[0].gallery, &gallery),
            alpha: results[0].report.alpha,
            runs: &results,
        },
    )?;
    let seconds = start.elapsed().as_secs_f64();
    if a.json {
        return print_json(&Results {
            dataset: &synth,
            config: &config,
            protocol: "sysu all-search single-shot infrared-to-visible",
            runs: &results,
            report: report_dir.join("index.html"),
            seconds,
        });
    }
    for r in &results {
        println!(
            "\n{} ({}): SYSU-MM01 protocol, all-search, single-shot, infrared to visible, {} trials",
            r.name,
            if r.rle { "RLE on" } else { "RLE off" },
            r.report.trials.len()
        );
        print!("{}", trial_table(&r.report));
    }
    println!("\n{}", report::comparison_table(&results));
    println!(
        "report: {} ({:.0} s in all)",
        report_dir.join("index.html").display(),
        seconds
    );
    Ok(())
}

/// The fused headline of a run, for the comparison table.
pub fn headline(r: &RunResult) -> &vireid_eval::Metrics {
    &r.report.score(Score::Fused).mean
}
