use crate::bars::{Bars, Phases};
use crate::interrupt::{resume_command, stop_on_ctrl_c};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use vireid::commands::{dataset_parser, print_json};
use vireid_data::Dataset;
use vireid_dist::{Backend, Launch, ProcessGroup};
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
    /// Train data-parallel in N processes on this machine (one per GPU, cuda:0..N-1, or N
    /// CPU processes sharing the cores), as `torchrun --nproc-per-node N` would; each step
    /// then holds N times the batch (see the config key lr_scaling). Under torchrun or SLURM,
    /// leave it out: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT are read.
    #[arg(long, value_name = "N")]
    pub(crate) nproc: Option<usize>,
    /// Seconds a process waits for the others (the rendezvous, and each exchange while rank 0
    /// evaluates or saves) before it gives up.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub(crate) dist_timeout: u64,
    /// Print the final run state as one JSON document.
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let config = resolve(&a)?;
    let launch = Launch::from_env()?;
    match a.nproc {
        Some(0) => anyhow::bail!("--nproc must be at least 1"),
        Some(n) if launch.is_some() => anyhow::bail!(
            "--nproc {n} inside a launched job (RANK/WORLD_SIZE are set): torchrun or SLURM \
             already started the processes"
        ),
        Some(n) if n > 1 => return crate::launcher::run(n),
        _ => {}
    }
    let rank = launch.as_ref().map_or(0, |l| l.rank);
    // Only rank 0 talks; the others would repeat it.
    let quiet = a.json || rank != 0;
    crate::process::settle(config.deterministic, threads_per_rank(&a, &launch), quiet);
    let device = match &launch {
        Some(l) => rank_device(&a.device, l.local_rank)?,
        None => crate::process::device(&a.device, a.json)?,
    };
    let group = match &launch {
        Some(l) => Some(
            ProcessGroup::join(
                l,
                Backend::for_device(device),
                Duration::from_secs(a.dist_timeout),
            )
            .with_context(|| format!("joining the job as rank {} of {}", l.rank, l.world_size))?,
        ),
        None => None,
    };
    if config.pretrained == Pretrained::None && !a.resume && !quiet {
        eprintln!(
            "note: pretrained = none: the backbone starts from random weights (the paper starts \
             from ImageNet: --pretrained imagenet)"
        );
    }
    let stop = stop_on_ctrl_c();
    let place = Place {
        root: &a.root,
        out: &a.out,
        device,
        group: group.as_ref(),
    };
    let (outcome, state) = train_on(&config, place, a.resume, quiet, &stop)?;
    if rank != 0 {
        return Ok(());
    }
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
                job_resume_command(a, launch.as_ref())
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

/// The command that continues the run: a one-machine job of W processes resumes with
/// `--nproc W` (however it was started); a job across machines is relaunched as it was.
fn job_resume_command(mut a: Args, launch: Option<&Launch>) -> String {
    let Some(l) = launch else {
        return resume_command(&a);
    };
    if l.local_world_size.is_none_or(|n| n == l.world_size) {
        a.nproc = Some(l.world_size);
        resume_command(&a)
    } else {
        format!(
            "the same launch of {} processes (torchrun, srun) running {}",
            l.world_size,
            resume_command(&a)
        )
    }
}

/// A rank's device: its GPU (cuda:LOCAL_RANK) where `--device` is auto or cuda and CUDA is
/// there, else what `--device` names.
fn rank_device(spec: &str, local_rank: usize) -> Result<tch::Device> {
    let spec = spec.trim();
    if (spec == "auto" && tch::Cuda::is_available()) || spec == "cuda" {
        let gpus = tch::Cuda::device_count() as usize;
        anyhow::ensure!(
            local_rank < gpus,
            "LOCAL_RANK {local_rank} has no GPU of its own (this machine shows {gpus}): start \
             at most {gpus} processes per machine"
        );
        return Ok(tch::Device::Cuda(local_rank));
    }
    crate::process::device(spec, true)
}

/// libtorch threads for this process: --threads, or, when several CPU processes share this
/// machine (the launch's local world size, as torchrun, srun and --nproc give it), an equal
/// share of the cores instead of one thread per core each.
fn threads_per_rank(a: &Args, launch: &Option<Launch>) -> usize {
    match launch.as_ref().and_then(|l| l.local_world_size) {
        Some(local) if a.threads == 0 && local > 1 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (cores / local).max(1)
        }
        _ => a.threads,
    }
}

/// clap parser for --backbone.
fn backbone(s: &str) -> Result<Depth, String> {
    Depth::by_name(s).ok_or_else(|| format!("{s:?} is not resnet18, resnet34 or resnet50"))
}

/// Where a process trains: the dataset, the run folder, its device and its job's group.
struct Place<'a> {
    root: &'a Path,
    out: &'a Path,
    device: tch::Device,
    group: Option<&'a ProcessGroup>,
}

/// Trains `config` on the dataset at `root` into `out` (see vireid_engine::job), with bars
/// unless `quiet`.
fn train_on(
    config: &TrainConfig,
    place: Place<'_>,
    resume: bool,
    quiet: bool,
    stop: &AtomicBool,
) -> Result<(Outcome, RunState)> {
    let Place {
        root,
        out,
        device,
        group,
    } = place;
    if vireid_dist::leads(group) {
        vireid::commands::ensure_writable(out, "--out")?;
    }
    let mut bars = Bars::new(quiet, config.epochs);
    let job = TrainJob {
        config,
        root,
        out,
        device,
        resume,
        group,
    };
    let progress = Phases { quiet };
    job::run(job, stop, &mut bars, &progress)
        .with_context(|| format!("training into {}", out.display()))
}
