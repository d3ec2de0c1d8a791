//! `vireid`: visible-infrared person re-identification from the command line.

mod commands;
mod npy;
mod progress;
mod report;

use clap::{Parser, Subcommand};

// libtorch's activations reuse freed memory instead of faulting it in every step (see
// vireid_nn::allocator).
vireid_nn::use_jemalloc!();

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
    /// Train the two-stream network as the reference's train.py (resumable, observable).
    Train(commands::train::Args),
    /// The reference's test protocol on a checkpoint: features, four scores, 10 trials.
    Test(commands::test::Args),
    /// Evaluation features (pool.npy, bn.npy) of a normalised float32 NCHW batch.
    Extract(commands::extract::Args),
    /// (Not yet available) synthetic data, training, evaluation and a report, end to end.
    Demo(commands::demo::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(a) => commands::synth::run(a),
        Command::Prepare(a) => commands::prepare::run(a),
        Command::Splits(a) => commands::splits::run(a),
        Command::Metrics(a) => commands::metrics::run(a),
        Command::Augment(a) => commands::augment::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Test(a) => commands::test::run(a),
        Command::Extract(a) => commands::extract::run(a),
        Command::Demo(a) => commands::demo::run(a),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
