//! The demo over several seeds: each seed's whole demo (its own synthetic world, training
//! runs and report) in `OUT/seed-K/`, then in `OUT/report/` the summary over the seeds: each
//! run's mean and standard deviation and, with `--compare`, the paired RLE minus baseline
//! difference with its 95% interval, as a table, JSON, a plot and a page linking every
//! seed's own report.

use super::report::html_escape;
use super::{DemoOptions, DemoOutcome, DemoResults};
use crate::error::{write_atomic, EngineError, Result};
use crate::progress::Progress;
use crate::trainer::Observer;
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use vireid_eval::summary::{summarise, table, Sample, Scores, Summary};

/// Where one seed's demo goes.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// What a demo over several seeds did.
#[derive(Serialize)]
pub struct SeedsResults {
    pub seeds: Vec<u64>,
    pub summary: Summary,
    pub per_seed: Vec<DemoResults>,
    pub report: PathBuf,
    pub seconds: f64,
}

/// How it ended.
pub enum SeedsOutcome {
    Done(Box<SeedsResults>),
    /// Stopped (Ctrl-C) in this seed's training; the same command continues there (the
    /// seeds before it are kept).
    Stopped {
        seed: u64,
        next_epoch: usize,
    },
}

/// Runs the demo for each of `seeds` (one after the other; a seed already done is only
/// tested again) and summarises them.
pub fn run(
    o: &DemoOptions,
    seeds: &[u64],
    stop: &AtomicBool,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<SeedsOutcome> {
    let start = Instant::now();
    if seeds.is_empty() {
        return Err(EngineError::Demo("--seeds needs at least one seed".into()));
    }
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(EngineError::Demo(format!(
            "seed {} is given twice in --seeds",
            w[0]
        )));
    }
    let mut per_seed = Vec::with_capacity(seeds.len());
    for (i, &seed) in seeds.iter().enumerate() {
        let options = DemoOptions {
            out: seed_dir(&o.out, seed),
            seed,
            ..o.clone()
        };
        progress.note(&format!(
            "seed {seed} ({} of {}) into {}",
            i + 1,
            seeds.len(),
            options.out.display()
        ));
        match super::run(&options, stop, observer, progress)? {
            DemoOutcome::Stopped { next_epoch } => {
                return Ok(SeedsOutcome::Stopped { seed, next_epoch })
            }
            DemoOutcome::Done(r) => per_seed.push(*r),
        }
    }
    let samples: Vec<Sample> = per_seed
        .iter()
        .flat_map(|r| {
            r.runs.iter().map(|run| Sample {
                kind: run.name.clone(),
                seed: r.config.seed,
                scores: Scores::of(&run.report),
                source: run.dir.display().to_string(),
            })
        })
        .collect();
    let summary = summarise(samples, o.compare.then_some(("rle", "baseline")))?;
    let report_dir = o.out.join("report");
    write_report(&report_dir, &o.out, &summary, &per_seed)?;
    Ok(SeedsOutcome::Done(Box::new(SeedsResults {
        seeds: seeds.to_vec(),
        summary,
        per_seed,
        report: report_dir.join("index.html"),
        seconds: start.elapsed().as_secs_f64(),
    })))
}

/// `index.html`, `summary.txt`, `summary.json` and `summary.png` in `dir`.
pub fn write_report(
    dir: &Path,
    out: &Path,
    summary: &Summary,
    per_seed: &[DemoResults],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| EngineError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let text = table(summary);
    write_atomic(&dir.join("summary.txt"), text.as_bytes())?;
    let json = serde_json::to_string_pretty(summary).expect("a summary serialises");
    write_atomic(&dir.join("summary.json"), json.as_bytes())?;
    vireid_eval::summary_plot::write_png(summary, &dir.join("summary.png"))?;
    let mut h = super::report::page_head("vireid demo over seeds");
    let seeds: Vec<String> = per_seed.iter().map(|r| r.config.seed.to_string()).collect();
    let _ = writeln!(
        h,
        "<p>The whole demo once per seed ({}): each seed draws its own synthetic world, \
         sampling, augmentation and initial weights. Scores are the fused ones of the final \
         weights over each seed's gallery trials, in percent; the spread is the standard \
         deviation over seeds. A paired difference takes each seed's two runs (same world, \
         same seed) and gives Student's t 95% interval of their mean difference.</p>",
        seeds.join(", ")
    );
    let _ = writeln!(h, "<h2>Summary</h2>\n<pre>{}</pre>", html_escape(&text));
    h.push_str("<img src=\"summary.png\" alt=\"scores per seed, mean and spread\">\n");
    h.push_str(
        "<h2>Each seed</h2>\n<table><tr><th>seed</th><th>run</th><th>Rank-1</th><th>mAP</th>\
         <th>mINP</th><th>report</th></tr>\n",
    );
    for r in per_seed {
        let seed = r.config.seed;
        let link = relative_report(out, &seed_dir(out, seed));
        for run in &r.runs {
            let s = Scores::of(&run.report);
            let _ = writeln!(
                h,
                "<tr><td>{seed}</td><td>{}</td><td>{:.2}%</td><td>{:.2}%</td><td>{:.2}%</td>\
                 <td><a href=\"{link}\">seed-{seed}</a></td></tr>",
                html_escape(&run.name),
                s.rank1,
                s.map,
                s.minp
            );
        }
    }
    h.push_str("</table>\n</body></html>\n");
    write_atomic(&dir.join("index.html"), h.as_bytes())
}

/// The link from `OUT/report/index.html` to a seed's own report.
fn relative_report(out: &Path, seed_dir: &Path) -> String {
    let rel = seed_dir.strip_prefix(out).unwrap_or(seed_dir);
    format!("../{}/report/index.html", rel.display())
}
