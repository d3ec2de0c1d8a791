//! A run folder written before the config was typed (commit a8ca3be: `vireid synth --dataset
//! sysu --ids 9 --seed 3`, then `vireid train` for one epoch of ResNet-18 at 96 x 48 with
//! `eval_direction = "t2v"`; tests/fixtures/run-a8ca3be holds its config.toml, state.json and
//! metrics, without the tensor files) still loads, and resumes to the end.

mod common;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use tch::Device;
use vireid_data::{Dataset, Direction};
use vireid_engine::config::TrainConfig;
use vireid_engine::trainer::{read_state, train, EvalScores, Observer, Outcome, RunOptions};
use vireid_nn::{Depth, PartNet};

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/run-a8ca3be"
    ))
}

struct Quiet;
impl Observer for Quiet {}

#[test]
fn the_old_state_and_config_read_as_typed_values() {
    let state = read_state(fixture()).unwrap().expect("a state.json");
    let c = &state.config;
    assert_eq!(c.dataset, Dataset::Sysu);
    // Written as null before `pretrained` had a default: random weights, as it was trained.
    assert_eq!(c.pretrained, vireid_hub::Pretrained::None);
    assert_eq!(c.backbone, Depth::R18);
    assert_eq!(c.eval_direction, Some(Direction::InfraredToVisible));
    assert_eq!((c.height, c.width, c.epochs), (96, 48, 1));
    assert_eq!(state.network.depth, Depth::R18);
    assert_eq!(state.next_epoch, 1);
    assert_eq!(state.history.len(), 1);
    assert_eq!(state.best.map(|(e, _)| e), Some(0));
    // The config.toml beside it reads as the same config but for `pretrained`: a config file
    // is laid over the preset, whose start is now ImageNet (a resume does not compare it).
    let toml = TrainConfig::from_toml(Dataset::Sysu, &fixture().join("config.toml")).unwrap();
    assert_eq!(toml.pretrained, vireid_hub::Pretrained::ImageNet);
    let toml = TrainConfig {
        pretrained: c.pretrained.clone(),
        ..toml
    };
    assert_eq!(&toml, c);
    // Written back, the dataset and backbone are the strings they were.
    let text = c.to_toml();
    assert!(text.contains("dataset = \"sysu\"") && text.contains("backbone = \"resnet18\""));
}

#[test]
fn the_old_run_resumes_to_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = common::train_data(&tmp.path().join("data"), 3, None);
    let old = read_state(fixture()).unwrap().unwrap();
    let stop = AtomicBool::new(false);
    let mut scores = |_: &PartNet| -> vireid_engine::Result<EvalScores> {
        Ok(EvalScores {
            rank1: 0.0,
            map: 0.0,
            minp: 0.0,
        })
    };
    // The tensor files the old state names (not committed: 130 MB), made by today's code from
    // the same config: what is tested is that the old state.json and config.toml drive a resume.
    let donor = tmp.path().join("donor");
    let run =
        |dir: &Path,
         config: &TrainConfig,
         resume: bool,
         scores: &mut dyn FnMut(&PartNet) -> vireid_engine::Result<EvalScores>| {
            let options = RunOptions {
                dir,
                device: Device::Cpu,
                resume,
                init: None,
                group: None,
            };
            train(config, &data, options, scores, &stop, &mut Quiet).unwrap()
        };
    run(&donor, &old.config, false, &mut scores);
    let dir = tmp.path().join("old-run");
    std::fs::create_dir(&dir).unwrap();
    for f in ["config.toml", "state.json", "metrics.csv", "metrics.jsonl"] {
        std::fs::copy(fixture().join(f), dir.join(f)).unwrap();
    }
    for f in [
        old.weights.as_ref().unwrap(),
        old.optimizer.as_ref().unwrap(),
    ] {
        std::fs::copy(donor.join(f), dir.join(f)).unwrap();
    }
    let longer = TrainConfig {
        epochs: 2,
        ..old.config.clone()
    };
    let (outcome, state) = run(&dir, &longer, true, &mut scores);
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!(state.next_epoch, 2);
    assert_eq!(state.history.len(), 2);
    assert_eq!(
        state.history[0], old.history[0],
        "the old epoch's record is kept"
    );
    assert_eq!(
        state.best, old.best,
        "a worse score does not replace the old best"
    );
    assert!(dir.join("last.safetensors").exists());
    assert_eq!(
        state.config.eval_direction,
        Some(Direction::InfraredToVisible)
    );
}
