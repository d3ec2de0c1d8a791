//! `vireid`: visible-infrared person re-identification from the command line.
//!
//! This executable holds the commands that need no network and starts without loading
//! libtorch; `train`, `test`, `extract`, `demo`, `embed` and `env` are handed over to `vireid-torch`, the
//! executable installed beside it (as git hands `git foo` to `git-foo`), with the same
//! arguments.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use vireid::commands;

#[derive(Parser)]
#[command(
    name = "vireid",
    version,
    about = "Visible-infrared person re-identification: datasets, RLE augmentation, training and evaluation",
    long_about = "vireid re-implements the RLE system (NeurIPS 2024) for SYSU-MM01, RegDB and LLCM: \
data preparation, Random Linear Enhancement, two-stream training and the field's evaluation \
protocols. Each subcommand's --help explains its flags."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The arguments of a command that runs in vireid-torch (listed here for --help only).
#[derive(clap::Args)]
struct Forwarded {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic cross-spectral dataset in the real on-disk layout of a benchmark.
    Synth(commands::synth::Args),
    /// Decode, resize and cache the training images as .npy files the reference can read.
    Prepare(commands::prepare::Args),
    /// Print a protocol's query and per-trial galleries (a table, or JSON with --json).
    Splits(commands::splits::Args),
    /// CMC, mAP and mINP of a distance matrix, or of every trial of a folder of features.
    Metrics(commands::metrics::Args),
    /// A picture of the training augmentation: the pipeline and each transform on an image.
    Augment(commands::augment::Args),
    /// Rank an embedded gallery for embedded queries: a table, JSON, a page of thumbnails.
    Search(commands::search::Args),
    /// The ImageNet weights training starts from: list, fetch (verified) and verify them.
    Weights(commands::weights::Args),
    /// Scores of many training runs: mean and spread per kind over seeds, paired differences.
    Summary(commands::summary::Args),
    /// Train the two-stream network as the reference's train.py (resumable, observable).
    #[command(disable_help_flag = true)]
    Train(Forwarded),
    /// The reference's test protocol on a checkpoint: features, four scores, 10 trials.
    #[command(disable_help_flag = true)]
    Test(Forwarded),
    /// Evaluation features (pool.npy, bn.npy) of a normalised float32 NCHW batch.
    #[command(disable_help_flag = true)]
    Extract(Forwarded),
    /// Synthetic data, training with and without RLE, the 10-trial test and a report, end to end.
    #[command(disable_help_flag = true)]
    Demo(Forwarded),
    /// Features of raw images (files, folders, a list) with a trained checkpoint, for search.
    #[command(disable_help_flag = true)]
    Embed(Forwarded),
    /// What vireid runs on here: libtorch's CPU features, CUDA (loaded or why not), GPUs.
    #[command(disable_help_flag = true)]
    Env(Forwarded),
}

/// The commands vireid-torch runs.
const NETWORK_COMMANDS: [&str; 6] = ["train", "test", "extract", "demo", "embed", "env"];
const NETWORK_EXECUTABLE: &str = "vireid-torch";

/// Replaces this process with vireid-torch when the command is one of its own (also for
/// `vireid help train`); returns only when it is not, or with the reason it could not.
fn hand_over() -> anyhow::Result<()> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let word = |i: usize| args.get(i).and_then(|a| a.to_str());
    let network = |w: Option<&str>| w.is_some_and(|w| NETWORK_COMMANDS.contains(&w));
    if !(network(word(0)) || (word(0) == Some("help") && network(word(1)))) {
        return Ok(());
    }
    let exe = std::env::current_exe()?.with_file_name(NETWORK_EXECUTABLE);
    anyhow::ensure!(
        exe.is_file(),
        "`vireid {}` runs in {}, which is not there: build or install both executables \
         (cargo build --release -p vireid, or cargo install --path crates/vireid)",
        word(0).unwrap_or_default(),
        exe.display()
    );
    let mut child = std::process::Command::new(&exe);
    child.args(&args);
    // libtorch's OpenMP threads spin while they wait for work, by default for a long while:
    // alone on a machine that costs nothing, but beside another busy process they burn the
    // cores that process needs and training collapses (3.5x slower beside one busy process
    // on two cores, where a fair share costs 1.5x). Waiting threads sleep instead, unless
    // the user chose a policy. libgomp reads this when it loads, so it is set here, before
    // vireid-torch starts.
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        child.env("OMP_WAIT_POLICY", "PASSIVE");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = child.exec();
        anyhow::bail!("cannot run {}: {err}", exe.display())
    }
    #[cfg(not(unix))]
    {
        let status = child.status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

fn main() {
    if let Err(err) = hand_over() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(a) => commands::synth::run(a),
        Command::Prepare(a) => commands::prepare::run(a),
        Command::Splits(a) => commands::splits::run(a),
        Command::Metrics(a) => commands::metrics::run(a),
        Command::Augment(a) => commands::augment::run(a),
        Command::Weights(a) => commands::weights::run(a),
        Command::Search(a) => commands::search::run(a),
        Command::Summary(a) => commands::summary::run(a),
        Command::Train(_)
        | Command::Test(_)
        | Command::Extract(_)
        | Command::Demo(_)
        | Command::Embed(_)
        | Command::Env(_) => {
            unreachable!("handed over to vireid-torch before parsing")
        }
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
