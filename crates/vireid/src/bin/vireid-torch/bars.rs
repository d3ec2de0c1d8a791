//! The engine's progress reports drawn as indicatif bars on stderr (hidden with --json).

use indicatif::{ProgressBar, ProgressStyle};
use vireid_engine::progress::{Progress, Tick};
use vireid_engine::step::StepLosses;
use vireid_engine::trainer::{EpochRecord, Observer, RunState};

/// A bar over the steps of each epoch, and a line per epoch.
pub struct Bars {
    pub quiet: bool,
    /// The run's epochs, for "epoch 3/50".
    pub epochs: usize,
    bar: Option<ProgressBar>,
}

impl Bars {
    pub fn new(quiet: bool, epochs: usize) -> Bars {
        Bars {
            quiet,
            epochs,
            bar: None,
        }
    }
}

struct Phase(ProgressBar);

impl Tick for Phase {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Bars for the engine's phases (cache, features, evaluation, dataset) and its notes.
pub struct Phases {
    pub quiet: bool,
}

impl Progress for Phases {
    fn phase(&self, name: &str, total: u64) -> Box<dyn Tick + '_> {
        Box::new(Phase(vireid::progress::bar(total, name, self.quiet)))
    }

    fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}

impl Observer for Bars {
    fn epoch_start(&mut self, epoch: usize, steps: usize, done: usize) {
        let pb = vireid::progress::bar(
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
        let amp = r.loss_scale.map_or(String::new(), |s| {
            format!("  scale {s} ({} skipped)", r.skipped_steps)
        });
        let best = state.best.map_or(String::new(), |(e, s)| {
            format!("  (best Rank-1 {:.2}% at epoch {e})", 100.0 * s.rank1)
        });
        eprintln!(
            "epoch {:>3}  lr {:.5}  loss {:.4} (id {:.4}, tri {:.4})  {:.1} img/s  {:.1} s{amp}{eval}{best}",
            r.epoch, r.lr, r.loss, r.identity, r.triplet, r.images_per_second, r.seconds
        );
    }

    fn note(&mut self, line: &str) {
        if !self.quiet {
            eprintln!("note: {line}");
        }
    }
}
