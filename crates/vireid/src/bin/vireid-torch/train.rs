use crate::bars::{Bars, Phases};
use crate::interrupt::{resume_command, stop_on_ctrl_c};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use vireid::commands::{dataset_parser, print_json};
use vireid_data::Dataset;
use vireid_engine::config::TrainConfig;
use vireid_engine::job::{self, TrainJob};
use vireid_engine::trainer::{Outcome, RunState};
use vireid_hub::Pretrained;
use vireid_nn::Depth;

/// Train the two-stream part network as the reference's train.py does: identity-sampled
/// batches (B ids x K visible + K thermal), RLE augmentation, CE + batch-hard triplet on four
/// parts, SGD with the warm-up/step schedule, evaluation every 2 epochs keeping the best
/// checkpoint. Writes RUN_DIR/{config.toml, state.json, epochN.safetensors, best.safetensors,
/// metrics.csv, metrics.jsonl}; --resume continues a killed run to the same final weights.
#[derive(clap::Args)]
pub struct Args {
    /// Which dataset the root holds: sysu, regdb or llcm.
    #[arg(long, value_parser = dataset_parser())]
    pub(crate) dataset: Dataset,
    /// The dataset's root folder (the training cache is built there when missing).
    #[arg(long)]
    pub(crate) root: PathBuf,
    /// A TOML file whose keys override the dataset's preset (see README: every key of
    /// config.toml in a run folder). Unknown keys are errors.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// RegDB trial (1..10) whose training lists to use.
    #[arg(long)]
    pub(crate) trial: Option<u32>,
    /// Number of epochs (the reference: 151).
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// resnet50 (the paper), resnet34 or resnet18.
    #[arg(long, value_parser = backbone)]
    pub(crate) backbone: Option<Depth>,
    /// auto (the first GPU when libtorch sees one, else the CPU), cpu, cuda or cuda:K.
    #[arg(long, default_value = "auto")]
    pub(crate) device: String,
    /// What both stems and the shared layers start from (default: the config's, whose preset
    /// is imagenet). imagenet: torchvision's weights for the backbone, as the paper starts
    /// (resnet50-19c8e357.pth), found in torch's or vireid's cache or else downloaded and
    /// verified (see `vireid weights`); none: random weights; or the PATH of a
    /// torchvision-layout file (.pth or .safetensors). A resumed run keeps what it started
    /// from.
    #[arg(long, value_name = "imagenet|none|PATH")]
    pub(crate) pretrained: Option<Pretrained>,
    /// The one seed of sampling, augmentation and initialisation.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// The run folder.
    #[arg(long, default_value = "runs/train")]
    pub(crate) out: PathBuf,
    /// Continue the run in --out (its config must match).
    #[arg(long)]
    pub(crate) resume: bool,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    pub(crate) threads: usize,
    /// Deterministic mode (also the config key `deterministic`): the same seed gives the same
    /// bytes on any x86-64 machine with AVX2: kernels pinned to AVX2, 2 threads whatever the
    /// cores (slower on wide machines; see README, "The same numbers on any machine").
    #[arg(long)]
    pub(crate) deterministic: bool,
    /// Print the final run state as one JSON document.
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let config = resolve(&a)?;
    crate::process::settle(config.deterministic, a.threads, a.json);
    let device = crate::process::device(&a.device, a.json)?;
    if config.pretrained == Pretrained::None && !a.resume && !a.json {
        eprintln!(
            "note: pretrained = none: the backbone starts from random weights (the paper starts \
             from ImageNet: --pretrained imagenet)"
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

/// The config the flags ask for: the dataset's preset, the --config file over it, then the
/// flags over both.
fn resolve(a: &Args) -> Result<TrainConfig> {
    let mut config = match &a.config {
        Some(path) => TrainConfig::from_toml(a.dataset, path)?,
        None => TrainConfig::preset(a.dataset),
    };
    anyhow::ensure!(
        config.dataset == a.dataset,
        "the config says dataset {:?} but --dataset is {}",
        config.dataset.name(),
        a.dataset
    );
    if let Some(t) = a.trial {
        config.trial = t;
    }
    if let Some(e) = a.epochs {
        config.epochs = e;
    }
    if let Some(b) = a.backbone {
        config.backbone = b;
    }
    if let Some(p) = &a.pretrained {
        config.pretrained = p.clone();
    }
    if let Some(s) = a.seed {
        config.seed = s;
    }
    if a.deterministic {
        config.deterministic = true;
    }
    Ok(config)
}

/// clap parser for --backbone.
fn backbone(s: &str) -> Result<Depth, String> {
    Depth::by_name(s).ok_or_else(|| format!("{s:?} is not resnet18, resnet34 or resnet50"))
}

/// Trains `config` on the dataset at `root` into `out` (see vireid_engine::job), with bars
/// unless `quiet`.
fn train_on(
    config: &TrainConfig,
    root: &Path,
    out: &Path,
    device: tch::Device,
    resume: bool,
    quiet: bool,
    stop: &AtomicBool,
) -> Result<(Outcome, RunState)> {
    vireid::commands::ensure_writable(out, "--out")?;
    let mut bars = Bars::new(quiet, config.epochs);
    let job = TrainJob {
        config,
        root,
        out,
        device,
        resume,
    };
    let progress = Phases { quiet };
    job::run(job, stop, &mut bars, &progress)
        .with_context(|| format!("training into {}", out.display()))
}
