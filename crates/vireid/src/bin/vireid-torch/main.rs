//! `vireid-torch`: the `vireid` commands that run the network (train, test, extract, demo, embed).
//! Users type `vireid train ...`; the `vireid` executable hands those commands over to this
//! one, which alone links libtorch.

mod bars;
mod demo;
mod embed;
mod env;
mod extract;
mod interrupt;
mod launcher;
mod process;
mod test;
mod train;

use clap::{Parser, Subcommand};

// libtorch's activations reuse freed memory instead of faulting it in every step (see
// vireid_engine::allocator).
vireid_engine::use_jemalloc!();

#[derive(Parser)]
#[command(
    name = "vireid",
    bin_name = "vireid",
    version,
    about = "The vireid commands that run the two-stream network (reached through `vireid`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the two-stream network as the reference's train.py (resumable, observable).
    Train(train::Args),
    /// The reference's test protocol on a checkpoint: features, four scores, 10 trials.
    Test(test::Args),
    /// Evaluation features (pool.npy, bn.npy) of a normalised float32 NCHW batch.
    Extract(extract::Args),
    /// Synthetic data, training with and without RLE, the 10-trial test and a report, end to end.
    Demo(demo::Args),
    /// Features of raw images (files, folders, a list) with a trained checkpoint, for search.
    Embed(embed::Args),
    /// What vireid runs on here: libtorch's CPU features, CUDA (loaded or why not), GPUs.
    Env(env::Args),
}

fn main() {
    // First, before libtorch is asked anything about CUDA (it decides once).
    if let vireid_nn::CudaLoad::Failed(why) = vireid_nn::load_cuda() {
        eprintln!("note: libtorch_cuda did not load ({why}): CPU only");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(a),
        Command::Test(a) => test::run(a),
        Command::Extract(a) => extract::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Embed(a) => embed::run(a),
        Command::Env(a) => env::run(a),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
    // Everything the command writes is written and closed by now (files atomically, threads
    // joined). What is left is the tear-down of libtorch's and the CUDA libraries' static
    // state, 0.08 s that a one-image `embed` would spend on nothing: skip it.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: _exit ends the process at once; no Rust state outlives this line.
    unsafe { libc::_exit(0) }
}
