//! `vireid summary`: the scores of many training runs, per kind of run over its seeds, and a
//! paired comparison of two kinds.

use crate::run_scores::{comparison_order, read_run, samples, RunScores, ScoreSource};
use anyhow::Result;
use std::path::{Path, PathBuf};
use vireid_eval::summary::{summarise, table};

/// Summarise training run folders: each kind of run's Rank-1, mAP and mINP as mean and
/// standard deviation over its seeds, and with --compare the paired difference between two
/// kinds with a 95% interval. Runs whose configs differ only in `seed` are one kind. A run's
/// scores are its recorded final test (test.json, which the demo writes) when that tested
/// its last epoch, else its last periodic evaluation (said in the table).
#[derive(clap::Args)]
pub struct Args {
    /// Run folders (holding state.json), or folders searched for them (three levels down),
    /// e.g. a `vireid demo --seeds` output.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Pair the two kinds by seed and give their difference (with RLE minus without when
    /// they differ in `rle`, else the first kind found minus the second).
    #[arg(long)]
    compare: bool,
    /// Also draw the summary (one panel per score, and the differences) as a PNG here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
}

/// The run folders under `path`: itself when it is one, else those below it, sorted.
fn run_folders(path: &Path) -> Result<Vec<PathBuf>> {
    anyhow::ensure!(path.exists(), "{}: no such file or folder", path.display());
    if path.join("state.json").is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    anyhow::ensure!(
        path.is_dir(),
        "{}: not a run folder (a folder holding state.json)",
        path.display()
    );
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(path)
        .min_depth(1)
        .max_depth(3)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir() && e.path().join("state.json").is_file())
        .map(|e| e.into_path())
        .collect();
    found.dedup();
    anyhow::ensure!(
        !found.is_empty(),
        "{}: no run folder in it (none of its folders holds a state.json)",
        path.display()
    );
    Ok(found)
}

fn source_note(r: &RunScores) -> String {
    match &r.source {
        ScoreSource::Test { trials, .. } => format!("test, {trials} trials"),
        ScoreSource::Periodic { epoch, trials } => {
            format!("periodic evaluation after epoch {epoch}, {trials} trial(s)")
        }
    }
}

pub fn run(a: Args) -> Result<()> {
    let mut dirs = Vec::new();
    for p in &a.paths {
        for d in run_folders(p)? {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    let runs: Vec<RunScores> = dirs.iter().map(|d| read_run(d)).collect::<Result<_>>()?;
    let samples = samples(&runs);
    let order = if a.compare {
        Some(comparison_order(&runs, &samples)?)
    } else {
        None
    };
    let summary = summarise(
        samples,
        order.as_ref().map(|(x, y)| (x.as_str(), y.as_str())),
    )?;
    if let Some(path) = &a.plot {
        super::ensure_writable(path, "--plot")?;
        vireid_eval::summary_plot::write_png(&summary, path)?;
    }
    if a.json {
        let sources: Vec<_> = runs
            .iter()
            .map(|r| serde_json::json!({ "dir": r.dir, "seed": r.seed, "scores_from": r.source }))
            .collect();
        return super::print_json(&serde_json::json!({ "summary": summary, "runs": sources }));
    }
    println!(
        "{:<6} {:<28} {:>8} {:>8} {:>8}  scores from",
        "seed", "kind", "Rank-1", "mAP", "mINP"
    );
    for (r, s) in runs.iter().zip(&summary.samples) {
        println!(
            "{:<6} {:<28} {:>7.2}% {:>7.2}% {:>7.2}%  {} ({})",
            s.seed,
            s.kind,
            s.scores.rank1,
            s.scores.map,
            s.scores.minp,
            r.dir.display(),
            source_note(r)
        );
    }
    println!("\n{}", table(&summary));
    if let Some(path) = &a.plot {
        println!("plot: {}", path.display());
    }
    Ok(())
}
