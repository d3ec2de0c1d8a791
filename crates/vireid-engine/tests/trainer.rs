//! The training loop stopped inside epochs (as Ctrl-C does) and resumed ends with the same
//! weights and the same epoch means as a run never stopped.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use tch::Device;
use vireid_data::Dataset;
use vireid_engine::config::TrainConfig;
use vireid_engine::step::StepLosses;
use vireid_engine::trainer::{
    train, EpochRecord, EvalScores, Observer, Outcome, RunOptions, RunState, TrainData,
};
use vireid_nn::PartNet;

const H: usize = 96;
const W: usize = 48;

fn config() -> TrainConfig {
    let mut c = TrainConfig::preset(Dataset::Sysu);
    c.backbone = vireid_nn::Depth::R18;
    c.height = H;
    c.width = W;
    c.ids_per_batch = 3;
    c.images_per_id = 2;
    c.lr = 0.01;
    c.epochs = 2;
    c.eval_every = 0;
    c
}

/// Raises the stop flag after the `at`-th step of epoch `epoch`; records what it saw.
struct StopAt<'a> {
    stop: &'a AtomicBool,
    at: Option<(usize, usize)>,
    epoch: usize,
    seen: usize,
    resumed_from: Vec<(usize, usize)>,
    steps_per_epoch: usize,
}

impl Observer for StopAt<'_> {
    fn epoch_start(&mut self, epoch: usize, steps: usize, done: usize) {
        self.epoch = epoch;
        self.seen = done;
        self.steps_per_epoch = steps;
        self.resumed_from.push((epoch, done));
    }

    fn step(&mut self, _losses: &StepLosses, _rate: f64) {
        self.seen += 1;
        if self.at == Some((self.epoch, self.seen)) {
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    fn epoch_end(&mut self, _record: &EpochRecord, _state: &RunState) {}
}

fn run(
    dir: &Path,
    data: &TrainData,
    resume: bool,
    at: Option<(usize, usize)>,
) -> (Outcome, RunState, Vec<(usize, usize)>, usize) {
    let stop = AtomicBool::new(false);
    let mut observer = StopAt {
        stop: &stop,
        at,
        epoch: 0,
        seen: 0,
        resumed_from: Vec::new(),
        steps_per_epoch: 0,
    };
    let mut never = |_: &PartNet| -> vireid_engine::Result<EvalScores> { unreachable!() };
    let (outcome, state) = train(
        &config(),
        data,
        RunOptions {
            dir,
            device: Device::Cpu,
            resume,
            init: None,
            group: None,
        },
        &mut never,
        &stop,
        &mut observer,
    )
    .unwrap();
    (
        outcome,
        state,
        observer.resumed_from,
        observer.steps_per_epoch,
    )
}

fn means(state: &RunState) -> Vec<(f64, f64, f64)> {
    state
        .history
        .iter()
        .map(|r| (r.loss, r.identity, r.triplet))
        .collect()
}

#[test]
fn stopped_inside_epochs_and_resumed_equals_uninterrupted() {
    tch::set_num_threads(2);
    let tmp = tempfile::tempdir().unwrap();
    let data = common::train_data(&tmp.path().join("sysu"), 3, Some((1, 3)));

    let straight = tmp.path().join("straight");
    let (outcome, whole, _, steps) = run(&straight, &data, false, None);
    assert_eq!(outcome, Outcome::Finished);
    assert!(steps >= 4, "too few steps an epoch to stop inside: {steps}");

    // Stopped after step 2 of epoch 0, then inside epoch 1, then run to the end.
    let pieces = tmp.path().join("pieces");
    let (outcome, state, _, _) = run(&pieces, &data, false, Some((0, 2)));
    assert_eq!(outcome, Outcome::Interrupted);
    assert_eq!(state.next_epoch, 0);
    assert_eq!(state.partial.map(|p| p.steps), Some(2));
    assert!(pieces.join("epoch0.step2.safetensors").is_file());
    assert!(state.history.is_empty());

    let (outcome, state, resumed, _) = run(&pieces, &data, true, Some((1, steps - 1)));
    assert_eq!(outcome, Outcome::Interrupted);
    assert_eq!(
        resumed[0],
        (0, 2),
        "the resumed epoch starts after its done steps"
    );
    assert_eq!(state.next_epoch, 1);
    assert_eq!(state.partial.map(|p| p.steps), Some(steps - 1));
    assert!(
        !pieces.join("epoch0.step2.safetensors").exists(),
        "the superseded checkpoint is removed"
    );

    let (outcome, state, resumed, _) = run(&pieces, &data, true, None);
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!(resumed, [(1, steps - 1)]);
    assert!(state.partial.is_none());
    assert_eq!(means(&state), means(&whole), "epoch means differ");
    let a = std::fs::read(straight.join("last.safetensors")).unwrap();
    let b = std::fs::read(pieces.join("last.safetensors")).unwrap();
    assert!(
        a == b,
        "resumed weights differ from the uninterrupted run's"
    );
}
