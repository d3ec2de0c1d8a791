//! `vireid demo`: the flags, and the tables at the end; the pipeline is vireid_engine::demo.

use crate::bars::{Bars, Phases};
use crate::interrupt::stop_on_ctrl_c;
use anyhow::Result;
use std::path::PathBuf;
use vireid::commands::print_json;
use vireid_engine::demo::report::comparison_table;
use vireid_engine::demo::seeds::SeedsOutcome;
use vireid_engine::demo::{self, DemoOptions, DemoOutcome, DEMO_EPOCHS, DEMO_IDS};
use vireid_eval::report::trial_table;

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
    /// Run the whole demo once per seed (e.g. 0,1,2), each in OUT/seed-K with its own
    /// synthetic world, and summarise them in OUT/report: each run's mean and standard
    /// deviation over the seeds and, with --compare, the paired RLE minus baseline difference
    /// with its 95% interval.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "seed")]
    seeds: Vec<u64>,
    /// auto (the first GPU when libtorch sees one, else the CPU), cpu, cuda or cuda:K.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Leave the deterministic mode (on by default here: the demo's figures are the same on any
    /// x86-64 machine with AVX2); faster on machines with many cores.
    #[arg(long)]
    no_deterministic: bool,
    /// Print one JSON document (the results) instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    crate::process::settle(!a.no_deterministic, a.threads, a.json);
    let device = crate::process::device(&a.device, a.json)?;
    anyhow::ensure!(a.epochs >= 1, "--epochs must be at least 1");
    anyhow::ensure!((1..=10).contains(&a.trials), "--trials must be 1..10");
    vireid::commands::ensure_writable(&a.out, "--out")?;
    let options = DemoOptions {
        out: a.out.clone(),
        compare: a.compare,
        ids: a.ids,
        test_ids: a.test_ids,
        epochs: a.epochs,
        config: a.config.clone(),
        trials: a.trials,
        seed: a.seed,
        device,
        deterministic: !a.no_deterministic,
    };
    // Checked before Ctrl-C is taken over, so a bad config fails as any command does.
    let config = demo::resolved_config(&options)?;
    let stop = stop_on_ctrl_c();
    let mut bars = Bars::new(a.json, config.epochs);
    let progress = Phases { quiet: a.json };
    if !a.seeds.is_empty() {
        return many_seeds(&options, &a.seeds, a.json, &stop, &mut bars, &progress);
    }
    let results = match demo::run(&options, &stop, &mut bars, &progress)? {
        DemoOutcome::Stopped { next_epoch } => {
            println!("stopped; run the same command again to continue from epoch {next_epoch}");
            return Ok(());
        }
        DemoOutcome::Done(results) => results,
    };
    if a.json {
        return print_json(&results);
    }
    for r in &results.runs {
        println!(
            "\n{} ({}): SYSU-MM01 protocol, all-search, single-shot, infrared to visible, {} trials",
            r.name,
            if r.rle { "RLE on" } else { "RLE off" },
            r.report.trials.len()
        );
        print!("{}", trial_table(&r.report));
    }
    println!("\n{}", comparison_table(&results.runs));
    println!(
        "report: {} ({:.0} s in all)",
        results.report.display(),
        results.seconds
    );
    Ok(())
}

fn many_seeds(
    options: &DemoOptions,
    seeds: &[u64],
    json: bool,
    stop: &std::sync::atomic::AtomicBool,
    bars: &mut Bars,
    progress: &Phases,
) -> Result<()> {
    let results = match demo::seeds::run(options, seeds, stop, bars, progress)? {
        SeedsOutcome::Stopped { seed, next_epoch } => {
            println!(
                "stopped in seed {seed}; run the same command again to continue from its epoch {next_epoch}"
            );
            return Ok(());
        }
        SeedsOutcome::Done(results) => results,
    };
    if json {
        return print_json(&results);
    }
    for r in &results.per_seed {
        println!("\nseed {}:\n{}", r.config.seed, comparison_table(&r.runs));
    }
    println!(
        "over seeds {}:\n{}",
        results
            .seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        vireid_eval::summary::table(&results.summary)
    );
    println!(
        "report: {} ({:.0} s in all)",
        results.report.display(),
        results.seconds
    );
    Ok(())
}
