//! The training loop's parts, each alone: the prefetcher's batches do not depend on where an
//! epoch starts; the run folder's commit, resume rules and refusals; the per-epoch hooks.

mod common;

use std::sync::mpsc::sync_channel;
use tch::nn::VarStore;
use tch::Device;
use vireid_data::sampler::IdentitySampler;
use vireid_data::Dataset;
use vireid_engine::amp::Precision;
use vireid_engine::config::TrainConfig;
use vireid_engine::sgd::{Sgd, SgdConfig};
use vireid_engine::trainer::hooks::{BestCheckpoint, Hook, MetricsFiles};
use vireid_engine::trainer::prefetch::produce;
use vireid_engine::trainer::{
    read_state, EpochRecord, EvalScores, Partial, RunFolder, RunOptions, RunState,
};
use vireid_engine::EngineError;
use vireid_hub::Pretrained;
use vireid_nn::network::part_net;
use vireid_nn::Depth;

fn small_config() -> TrainConfig {
    let mut c = TrainConfig::preset(Dataset::Sysu);
    c.backbone = Depth::R18;
    c.height = 96;
    c.width = 48;
    c.ids_per_batch = 3;
    c.images_per_id = 2;
    c
}

#[test]
fn a_batch_is_the_same_whichever_step_the_prefetcher_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::train_data(dir.path(), 5, Some((1, 3)));
    let c = small_config();
    let sampler = IdentitySampler::new(data.visible.labels(), data.thermal.labels(), 3, 2).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let batches = sampler.epoch(&mut rng);
    assert!(batches.len() >= 3);
    let collect = |skip: usize| {
        let (tx, rx) = sync_channel(64);
        produce(&data, &c.augmentation(), &batches, skip, 7, tx);
        rx.into_iter().map(|b| b.unwrap()).collect::<Vec<_>>()
    };
    let all = collect(0);
    let late = collect(2);
    assert_eq!(all.len(), batches.len());
    assert_eq!(late.len(), batches.len() - 2);
    for (a, b) in all[2..].iter().zip(&late) {
        assert_eq!(a.visible, b.visible);
        assert_eq!(a.thermal, b.thermal);
        assert_eq!(a.labels, b.labels);
    }
    // And the batches differ from one another (the seeds are per step).
    assert_ne!(all[0].visible, all[1].visible);
}

fn network(c: &TrainConfig) -> (VarStore, Sgd) {
    let vs = VarStore::new(Device::Cpu);
    let _net = part_net(&vs.root(), c.net_config(6));
    let sgd = Sgd::new(
        &vs,
        SgdConfig {
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: true,
        },
    );
    (vs, sgd)
}

fn opts(dir: &std::path::Path, resume: bool) -> RunOptions<'_> {
    RunOptions {
        dir,
        device: Device::Cpu,
        resume,
        init: None,
        group: None,
    }
}

#[test]
fn the_run_folder_commits_resumes_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let c = small_config();
    let (vs, mut sgd) = network(&c);
    let folder = RunFolder::create(&run).unwrap();
    let (mut state, _) = folder
        .start(&c, c.net_config(6), &vs, &mut sgd, &opts(&run, false))
        .unwrap();
    assert_eq!(state.next_epoch, 0);
    assert!(run.join("config.toml").exists());
    // A stop inside epoch 0, then the end of epoch 0: each commit replaces the last's files.
    let partial = Partial {
        steps: 3,
        ..Partial::default()
    };
    folder
        .commit(&vs, &sgd, &mut state, 0, Some(partial))
        .unwrap();
    assert!(run.join("epoch0.step3.safetensors").exists());
    assert_eq!(read_state(&run).unwrap().unwrap().partial, Some(partial));
    folder.commit(&vs, &sgd, &mut state, 0, None).unwrap();
    assert!(!run.join("epoch0.step3.safetensors").exists());
    assert!(!run.join("epoch0.step3.optim.safetensors").exists());
    let saved = read_state(&run).unwrap().unwrap();
    assert_eq!(saved.next_epoch, 1);
    assert_eq!(saved.weights.as_deref(), Some("epoch0.safetensors"));
    // Where and how it trained is recorded, for the resume check.
    assert_eq!(saved.device.as_deref(), Some("cpu"));
    assert_eq!(saved.precision, Some(Precision::Float32));
    // Without --resume a folder holding a run is refused; with it, the state comes back.
    let (vs2, mut sgd2) = network(&c);
    let refused = folder.start(&c, c.net_config(6), &vs2, &mut sgd2, &opts(&run, false));
    assert!(matches!(refused, Err(EngineError::RunExists { .. })));
    let (resumed, _) = folder
        .start(&c, c.net_config(6), &vs2, &mut sgd2, &opts(&run, true))
        .unwrap();
    assert_eq!(resumed.next_epoch, 1);
    // More epochs may be asked for; any other change is refused.
    let longer = TrainConfig {
        epochs: c.epochs + 5,
        ..c.clone()
    };
    folder
        .start(&longer, c.net_config(6), &vs2, &mut sgd2, &opts(&run, true))
        .unwrap();
    // What a fresh run starts from is no resume's business: another `pretrained` resumes,
    // and the one the run started from stays on record.
    let other_start = TrainConfig {
        pretrained: Pretrained::File("elsewhere.pth".into()),
        ..c.clone()
    };
    let (resumed, _) = folder
        .start(
            &other_start,
            c.net_config(6),
            &vs2,
            &mut sgd2,
            &opts(&run, true),
        )
        .unwrap();
    assert_eq!(resumed.config.pretrained, c.pretrained);
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(saved.contains("pretrained = \"imagenet\""), "{saved}");
    // amp off on the CPU trains in float32 as before: allowed.
    let no_amp = TrainConfig {
        amp: false,
        ..c.clone()
    };
    folder
        .start(&no_amp, c.net_config(6), &vs2, &mut sgd2, &opts(&run, true))
        .unwrap();
    let other = TrainConfig {
        lr: 0.5,
        ..c.clone()
    };
    let changed = folder.start(&other, c.net_config(6), &vs2, &mut sgd2, &opts(&run, true));
    assert!(matches!(changed, Err(EngineError::ConfigChanged { .. })));
}

fn record(epoch: usize, rank1: Option<f64>) -> EpochRecord {
    EpochRecord {
        epoch,
        steps: 4,
        lr: 0.01,
        loss: 2.5,
        identity: 1.5,
        triplet: 1.0,
        images_per_second: 10.0,
        seconds: 1.0,
        seconds_waiting: 0.0,
        seconds_stepping: 1.0,
        eval: rank1.map(|rank1| EvalScores {
            rank1,
            map: rank1 / 2.0,
            minp: rank1 / 4.0,
        }),
        skipped_steps: 0,
        loss_scale: None,
        seconds_exchanging: None,
    }
}

#[test]
fn the_hooks_keep_the_best_and_write_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let c = small_config();
    let (vs, _) = network(&c);
    let mut state = RunState::fresh(&c, c.net_config(6));
    let mut best = BestCheckpoint;
    for (epoch, score) in [(0, Some(0.3)), (1, None), (2, Some(0.2)), (3, Some(0.5))] {
        let r = record(epoch, score);
        state.history.push(r.clone());
        best.before_commit(dir.path(), &vs, &r, &mut state).unwrap();
    }
    assert_eq!(state.best.map(|(e, s)| (e, s.rank1)), Some((3, 0.5)));
    assert!(dir.path().join("best.safetensors").exists());
    MetricsFiles.after_commit(dir.path(), &state).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("epoch,lr,loss"));
    assert!(lines[1].starts_with("0,0.01,2.5,1.5,1,") && lines[1].contains(",0.3,0.15,0.075,"));
    assert!(
        lines[2].contains(",,,"),
        "an epoch without evaluation has empty scores"
    );
    let jsonl = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    let back: Vec<EpochRecord> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, state.history);
}
