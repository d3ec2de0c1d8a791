use super::{dataset_parser, print_json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use vireid_data::{splits, Dataset, Direction, Entry, Mode, Protocol, Shot};

/// Print the query and per-trial galleries of a protocol, item for item as the reference
/// builds them (SYSU-MM01 and LLCM galleries: random.seed(trial) and random.choice).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Print JSON: {"query": [...], "trials": [{"trial", "gallery": [...]}]} with paths
    /// relative to the root (RegDB: a query per trial, null at the top).
    #[arg(long)]
    json: bool,
}

/// The flags that choose a protocol and its trials (`splits`, `test`).
#[derive(clap::Args)]
pub struct ProtocolArgs {
    /// Which dataset the root holds: sysu, regdb or llcm.
    #[arg(long, value_parser = dataset_parser())]
    pub dataset: Dataset,
    /// The dataset's root folder.
    #[arg(long)]
    pub root: PathBuf,
    /// SYSU-MM01 search mode: all (cameras 1, 2, 4, 5) or indoor (cameras 1, 2).
    #[arg(long, value_enum, default_value = "all")]
    pub mode: ModeArg,
    /// Gallery images per person and camera: single (1) or multi (10).
    #[arg(long, value_enum, default_value = "single")]
    pub shot: ShotArg,
    /// Search direction: v2t/t2v for RegDB, v2i/i2v for LLCM (SYSU-MM01 is always i2v).
    /// Default: RegDB v2t, LLCM v2i (as the reference's test.py), SYSU-MM01 i2v.
    #[arg(long)]
    pub direction: Option<String>,
    /// Number of trials, from the first (0 for SYSU-MM01 and LLCM, 1 for RegDB).
    #[arg(long, default_value_t = 10, conflicts_with = "trial")]
    pub trials: u32,
    /// One trial only.
    #[arg(long)]
    pub trial: Option<u32>,
}

impl ProtocolArgs {
    /// The protocol and trial numbers the common flags ask for (shared by `splits` and `test`):
    /// the dataset's default direction, and trials from the first (RegDB's is 1).
    pub fn resolve(&self) -> anyhow::Result<(Protocol, Vec<u32>)> {
        let dataset = self.dataset;
        let direction = match self.direction.as_deref() {
            Some(d) => d.parse::<Direction>()?,
            None => Protocol::default_direction(dataset),
        };
        let protocol = Protocol {
            dataset,
            mode: match self.mode {
                ModeArg::All => Mode::All,
                ModeArg::Indoor => Mode::Indoor,
            },
            shot: match self.shot {
                ShotArg::Single => Shot::Single,
                ShotArg::Multi => Shot::Multi,
            },
            direction,
        };
        let first = *dataset.spec().test_trials.start();
        let trials = match self.trial {
            Some(t) => vec![t],
            None => (first..first + self.trials).collect(),
        };
        Ok((protocol, trials))
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    All,
    Indoor,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ShotArg {
    Single,
    Multi,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (protocol, trials) = a.protocol.resolve()?;
    let dataset = protocol.dataset;
    let split = splits(&a.protocol.root, &protocol, &trials)?;
    for w in &split.warnings {
        eprintln!("warning: {w}");
    }
    if a.json {
        return print_json(&split);
    }
    let count = |entries: &[Entry]| {
        let ids: BTreeSet<u32> = entries.iter().map(|e| e.id).collect();
        (ids.len(), entries.len())
    };
    println!(
        "Dataset {} statistics ({:?}, {:?}-shot, {:?}):",
        dataset, protocol.mode, protocol.shot, protocol.direction
    );
    println!("  ------------------------------");
    println!("  subset      | # ids | # images");
    println!("  ------------------------------");
    if let Some(q) = &split.query {
        let (ids, n) = count(q);
        println!("  query       | {ids:5} | {n:8}");
    }
    for t in &split.trials {
        if let Some(q) = &t.query {
            let (ids, n) = count(q);
            println!("  query    {:>2} | {ids:5} | {n:8}", t.trial);
        }
        let (ids, n) = count(&t.gallery);
        println!("  gallery  {:>2} | {ids:5} | {n:8}", t.trial);
    }
    println!("  ------------------------------");
    Ok(())
}
