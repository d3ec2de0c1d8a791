//! What happens around each finished epoch besides the step loop, as hooks the loop calls in
//! order: the best checkpoint (before the epoch is committed, so state.json records it), and
//! the metrics files and the curves (after). A new per-epoch output is a new hook here.

use super::records::EpochRecord;
use super::run_folder::RunState;
use crate::error::{write_atomic, Result};
use std::path::Path;
use tch::nn::VarStore;
use vireid_nn::weights;

/// One per-epoch action of the loop.
pub trait Hook {
    /// The epoch is over (and evaluated when due); `state` is about to be committed.
    fn before_commit(
        &mut self,
        _dir: &Path,
        _vs: &VarStore,
        _record: &EpochRecord,
        _state: &mut RunState,
    ) -> Result<()> {
        Ok(())
    }

    /// The epoch is committed: state.json names its weights.
    fn after_commit(&mut self, _dir: &Path, _state: &RunState) -> Result<()> {
        Ok(())
    }
}

/// best.safetensors: the weights of the epoch with the highest Rank-1 so far.
pub struct BestCheckpoint;

impl Hook for BestCheckpoint {
    fn before_commit(
        &mut self,
        dir: &Path,
        vs: &VarStore,
        record: &EpochRecord,
        state: &mut RunState,
    ) -> Result<()> {
        if let Some(e) = record.eval {
            if state.best.is_none_or(|(_, b)| e.rank1 > b.rank1) {
                weights::save(vs, &dir.join("best.safetensors"))?;
                state.best = Some((record.epoch, e));
            }
        }
        Ok(())
    }
}

/// metrics.csv and metrics.jsonl, rewritten from the history (short; atomic).
pub struct MetricsFiles;

impl Hook for MetricsFiles {
    fn after_commit(&mut self, dir: &Path, state: &RunState) -> Result<()> {
        write_atomic(
            &dir.join("metrics.csv"),
            metrics_csv(&state.history).as_bytes(),
        )?;
        let mut jsonl = String::new();
        for r in &state.history {
            jsonl.push_str(&serde_json::to_string(r).expect("record serialises"));
            jsonl.push('\n');
        }
        write_atomic(&dir.join("metrics.jsonl"), jsonl.as_bytes())
    }
}

fn metrics_csv(history: &[EpochRecord]) -> String {
    let mut csv = String::from(
        "epoch,lr,loss,identity,triplet,images_per_second,seconds,rank1,mAP,mINP,seconds_waiting,seconds_stepping,skipped_steps,loss_scale\n",
    );
    for r in history {
        let (r1, map, minp) = r
            .eval
            .map_or((String::new(), String::new(), String::new()), |e| {
                (
                    format!("{}", e.rank1),
                    format!("{}", e.map),
                    format!("{}", e.minp),
                )
            });
        let scale = r.loss_scale.map_or(String::new(), |s| s.to_string());
        csv.push_str(&format!(
            "{},{},{},{},{},{:.2},{:.2},{r1},{map},{minp},{:.3},{:.3},{},{scale}\n",
            r.epoch,
            r.lr,
            r.loss,
            r.identity,
            r.triplet,
            r.images_per_second,
            r.seconds,
            r.seconds_waiting,
            r.seconds_stepping,
            r.skipped_steps
        ));
    }
    csv
}

/// curves.png: loss, lr, speed and scores over epochs.
pub struct Curves;

impl Hook for Curves {
    fn after_commit(&mut self, dir: &Path, state: &RunState) -> Result<()> {
        crate::curves::write_png(&state.history, &dir.join("curves.png"))
    }
}

/// The hooks every run has, in the order they run.
pub fn standard() -> Vec<Box<dyn Hook>> {
    vec![
        Box::new(BestCheckpoint),
        Box::new(MetricsFiles),
        Box::new(Curves),
    ]
}
