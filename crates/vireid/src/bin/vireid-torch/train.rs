use crate::extract::set_threads;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vireid::commands::{print_json, DatasetArg};
use vireid::progress;
use vireid_data::cache::{prepare, CachePaths, ImageCache};
use vireid_data::image_io::Size;
use vireid_data::{splits, train_set, Dataset, Direction, Mode, Protocol, Shot};
use vireid_eval::Score;
use vireid_nn::config::TrainConfig;
use vireid_nn::evaluate::{score_trials, trial_features, ExtractionSettings, ProtocolImages};
use vireid_nn::step::StepLosses;
use vireid_nn::trainer::{
    train, EpochRecord, EvalScores, Observer, Outcome, RunOptions, RunState, TrainData,
};
use vireid_nn::{parse_device, NnError};

/// Train the two-stream part network as the reference's train.py does: identity-sampled
/// batches (B ids x K visible + K thermal), RLE augmentation, CE + batch-hard triplet on four
/// parts, SGD with the warm-up/step schedule, evaluation every 2 epochs keeping the best
/// checkpoint. Writes RUN_DIR/{config.toml, state.json, epochN.safetensors, best.safetensors,
/// metrics.csv, metrics.jsonl}; --resume continues a killed run to the same final weights.
#[derive(clap::Args)]
pub struct Args {
    /// Which dataset the root holds: sysu, regdb or llcm.
    #[arg(long, value_enum)]
    dataset: DatasetArg,
    /// The dataset's root folder (the training cache is built there when missing).
    #[arg(long)]
    root: PathBuf,
    /// A TOML file whose keys override the dataset's preset (see README: every key of
    /// config.toml in a run folder). Unknown keys are errors.
    #[arg(long)]
    config: Option<PathBuf>,
    /// RegDB trial (1..10) whose training lists to use.
    #[arg(long)]
    trial: Option<u32>,
    /// Number of epochs (the reference: 151).
    #[arg(long)]
    epochs: Option<usize>,
    /// resnet50 (the paper), resnet34 or resnet18.
    #[arg(long)]
    backbone: Option<String>,
    /// cpu, cuda or cuda:K.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// ImageNet weights (torchvision resnet50-19c8e357.pth or .safetensors) for both stems and
    /// the shared layers, as the reference starts.
    #[arg(long)]
    pretrained: Option<PathBuf>,
    /// The one seed of sampling, augmentation and initialisation.
    #[arg(long)]
    seed: Option<u64>,
    /// The run folder.
    #[arg(long, default_value = "runs/train")]
    out: PathBuf,
    /// Continue the run in --out (its config must match).
    #[arg(long)]
    resume: bool,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the final run state as one JSON document.
    #[arg(long)]
    json: bool,
}

struct Bars {
    bar: Option<ProgressBar>,
    quiet: bool,
    epochs: usize,
}

impl Observer for Bars {
    fn epoch_start(&mut self, epoch: usize, steps: usize, done: usize) {
        let pb = progress::bar(
            steps as u64,
            &format!("epoch {epoch}/{}", self.epochs),
            self.quiet,
        );
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:24}] {pos}/{len} {prefix} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(format!("epoch {epoch:>3}"));
        pb.set_position(done as u64);
        pb.reset_eta();
        self.bar = Some(pb);
    }

    fn step(&mut self, l: &StepLosses, images_per_second: f64) {
        if let Some(pb) = &self.bar {
            pb.set_prefix(format!(
                "loss {:.3} (id {:.3} tri {:.3}) {images_per_second:.1} img/s",
                l.total, l.identity, l.triplet
            ));
            pb.inc(1);
        }
    }

    fn epoch_end(&mut self, r: &EpochRecord, state: &RunState) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        let eval = r.eval.map_or(String::new(), |e| {
            format!(
                "  Rank-1 {:.2}% mAP {:.2}% mINP {:.2}%",
                100.0 * e.rank1,
                100.0 * e.map,
                100.0 * e.minp
            )
        });
        let best = state.best.map_or(String::new(), |(e, s)| {
            format!("  (best Rank-1 {:.2}% at epoch {e})", 100.0 * s.rank1)
        });
        eprintln!(
            "epoch {:>3}  lr {:.5}  loss {:.4} (id {:.4}, tri {:.4})  {:.1} img/s  {:.1} s{eval}{best}",
            r.epoch, r.lr, r.loss, r.identity, r.triplet, r.images_per_second, r.seconds
        );
    }
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads);
    let device = parse_device(&a.device)?;
    let dataset: Dataset = a.dataset.into();
    let name = dataset.to_string();
    let mut config = match &a.config {
        Some(path) => TrainConfig::from_toml(&name, path)?,
        None => TrainConfig::preset(&name)?,
    };
    anyhow::ensure!(
        config.dataset == name,
        "the config says dataset {:?} but --dataset is {name}",
        config.dataset
    );
    if let Some(t) = a.trial {
        config.trial = t;
    }
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    if let Some(b) = &a.backbone {
        config.backbone = b.clone();
    }
    if let Some(p) = &a.pretrained {
        config.pretrained = Some(p.clone());
    }
    if let Some(s) = a.seed {
        config.seed = s;
    }
    if config.pretrained.is_none() && !a.resume {
        eprintln!(
            "note: no --pretrained ImageNet weights: the backbone starts from random weights \
             (the paper starts from torchvision's resnet50-19c8e357.pth)"
        );
    }
    let stop = stop_on_ctrl_c();
    let (outcome, state) = train_on(&config, &a.root, &a.out, device, a.resume, a.json, &stop)?;
    if a.json {
        return print_json(&state);
    }
    match outcome {
        Outcome::Interrupted => {
            let at = match state.partial {
                Some(p) => format!("in epoch {} after step {}", state.next_epoch, p.steps),
                None => format!("after epoch {}", state.next_epoch.saturating_sub(1)),
            };
            println!(
                "stopped {at} (saved); continue with: {}",
                resume_command(&a)
            )
        }
        Outcome::Finished => {
            println!(
                "trained {} epochs into {}",
                state.next_epoch,
                a.out.display()
            );
            if let Some((e, s)) = state.best {
                println!(
                    "best fused Rank-1 {:.2}% (mAP {:.2}%, mINP {:.2}%) at epoch {e}: {}",
                    100.0 * s.rank1,
                    100.0 * s.map,
                    100.0 * s.minp,
                    a.out.join("best.safetensors").display()
                );
            }
        }
    }
    Ok(())
}

/// The command that continues this run: every flag that shaped it (the saved config must
/// match), with --resume. Arguments are quoted for a POSIX shell, so the line can be pasted.
fn resume_command(a: &Args) -> String {
    let mut words = vec![
        "vireid".to_string(),
        "train".into(),
        "--dataset".into(),
        a.dataset.name().into(),
        "--root".into(),
        shell_quote(&a.root.display().to_string()),
    ];
    if let Some(c) = &a.config {
        words.extend(["--config".into(), shell_quote(&c.display().to_string())]);
    }
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            words.extend([name.to_string(), shell_quote(&v)]);
        }
    };
    flag("--trial", a.trial.map(|v| v.to_string()));
    flag("--epochs", a.epochs.map(|v| v.to_string()));
    flag("--backbone", a.backbone.clone());
    flag(
        "--pretrained",
        a.pretrained.as_ref().map(|p| p.display().to_string()),
    );
    flag("--seed", a.seed.map(|v| v.to_string()));
    flag("--device", Some(a.device.clone()).filter(|d| d != "cpu"));
    flag(
        "--threads",
        Some(a.threads).filter(|&t| t != 0).map(|t| t.to_string()),
    );
    words.extend([
        "--out".into(),
        shell_quote(&a.out.display().to_string()),
        "--resume".into(),
    ]);
    words.join(" ")
}

/// `s` as one POSIX shell word.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Sets Ctrl-C to stop training after the current step, saving where it is; a second Ctrl-C
/// abandons the current step and ends the process at once. Call once per process.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\naborted; the run resumes from its last save");
            // _exit, not exit: exit runs libtorch's static destructors while its worker
            // threads are inside a backward pass, which crashes with C++ traces. Nothing
            // needs flushing: every save is a completed rename.
            // SAFETY: _exit ends the process without touching any shared state.
            unsafe { libc::_exit(130) };
        }
        eprintln!(
            "\nstopping after this step (it is saved; --resume continues); Ctrl-C again to abort"
        );
    });
    stop
}

/// Trains `config` on the dataset at `root` into `out`: builds the training cache when
/// missing, evaluates periodically with the test protocol, shows progress unless `quiet`.
pub fn train_on(
    config: &TrainConfig,
    root: &Path,
    out: &Path,
    device: tch::Device,
    resume: bool,
    quiet: bool,
    stop: &AtomicBool,
) -> Result<(Outcome, RunState)> {
    // Everything that can be checked is, before the cache (minutes of work) is built.
    config.validate()?;
    vireid::commands::ensure_writable(out, "--out")?;
    let dataset: Dataset = config.dataset.parse()?;
    if let Some(p) = &config.pretrained {
        anyhow::ensure!(
            p.is_file(),
            "the pretrained weights {} do not exist (config key pretrained / --pretrained)",
            p.display()
        );
    }
    if !resume && vireid_nn::trainer::read_state(out)?.is_some() {
        anyhow::bail!(
            "{} already holds a run; pass --resume to continue it or choose another folder",
            out.display()
        );
    }
    // The training cache, built (or confirmed up to date) in the root.
    let size = Size::new(config.height as u32, config.width as u32);
    let set = train_set(dataset, root, config.trial)?;
    let paths = CachePaths::new(root, dataset, config.trial, size);
    let total = set.visible.len() + set.thermal.len();
    let pb = progress::bar(total as u64, "cache", quiet);
    prepare(root, &set, dataset, &paths, size, &|n| pb.inc(n as u64))?;
    pb.finish_and_clear();
    let data = TrainData {
        visible: ImageCache::open(&paths.visible_images, &paths.visible_labels)?,
        thermal: ImageCache::open(&paths.thermal_images, &paths.thermal_labels)?,
    };
    // The periodic evaluation: the test protocol on the first eval_trials galleries.
    let direction = match &config.eval_direction {
        Some(d) => d.parse::<Direction>()?,
        None => Protocol::default_direction(dataset),
    };
    let protocol = Protocol {
        dataset,
        mode: Mode::All,
        shot: Shot::Single,
        direction,
    };
    let trials: Vec<u32> = if dataset == Dataset::Regdb {
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
    let members: Vec<usize> = (0..split.trials.len()).collect();
    let mut evaluate = |net: &vireid_nn::PartNet| -> vireid_nn::Result<EvalScores> {
        let images = ProtocolImages {
            root,
            split: &split,
            direction,
        };
        let (q, g) = vireid_nn::evaluate::image_count(&split, &members);
        let pb = progress::bar((q + g) as u64, "evaluate", quiet);
        let shared = split.query.is_some();
        let (sq, per) = trial_features(net, images, &members, &settings, shared, &mut |n| {
            pb.inc(n as u64)
        })?;
        pb.finish_and_clear();
        let report = score_trials(dataset, direction, sq.as_ref(), &per, None, false)?;
        let m = &report.score(Score::Fused).mean;
        Ok(EvalScores {
            rank1: m.cmc[0],
            map: m.map,
            minp: m.minp,
        })
    };
    let mut bars = Bars {
        bar: None,
        quiet,
        epochs: config.epochs,
    };
    let (outcome, state) = train(
        config,
        &data,
        RunOptions {
            dir: out,
            device,
            resume,
        },
        &mut evaluate,
        stop,
        &mut bars,
    )
    .map_err(|e: NnError| anyhow::anyhow!(e))
    .with_context(|| format!("training into {}", out.display()))?;
    Ok((outcome, state))
}
