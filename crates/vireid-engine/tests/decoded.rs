//! The periodic evaluation's kept test images: a second evaluation with the same store gives
//! the same features and scores without reading a single image file (the files are gone by
//! then), a budget keeps only what it allows, and another size starts afresh.

mod common;

use std::path::Path;
use tch::nn::VarStore;
use tch::Device;
use vireid_data::{splits, Dataset, Direction, Mode, Protocol, Shot, Size, Split};
use vireid_engine::evaluate::{
    evaluate_network, DecodedImages, ExtractionSettings, ProtocolImages,
};
use vireid_engine::progress::Silent;
use vireid_nn::network::{part_net, NetConfig, PartNet};
use vireid_nn::Depth;

const DIRECTION: Direction = Direction::InfraredToVisible;

/// A synthetic SYSU-MM01 tree under `root` (seed `seed`), its split for `trials`, and a small
/// untrained network.
fn world(root: &Path, seed: u64, trials: &[u32]) -> (Split, VarStore, PartNet) {
    let _ = common::train_data(root, seed, Some((1, 2)));
    let protocol = Protocol {
        dataset: Dataset::Sysu,
        mode: Mode::All,
        shot: Shot::Single,
        direction: DIRECTION,
    };
    let split = splits(root, &protocol, trials).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let config = NetConfig {
        depth: Depth::R18,
        layer4: true,
        classes: 6,
    };
    let net = part_net(&vs.root(), config);
    (split, vs, net)
}

fn settings(flip: bool, batch: usize) -> ExtractionSettings {
    ExtractionSettings {
        size: Size::new(96, 48),
        flip,
        batch,
        device: Device::Cpu,
    }
}

#[test]
fn a_second_evaluation_needs_no_image_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (split, _vs, net) = world(root, 3, &[0, 1]);
    let settings = settings(true, 3);
    let images = ProtocolImages {
        root,
        split: &split,
        direction: DIRECTION,
    };
    let run = |decoded: Option<&mut DecodedImages>| {
        evaluate_network(
            &net,
            Dataset::Sysu,
            images,
            &settings,
            decoded,
            &Silent,
            "t",
        )
    };
    let plain = run(None).unwrap();
    let mut decoded = DecodedImages::default();
    let first = run(Some(&mut decoded)).unwrap();
    let expected: std::collections::HashSet<&str> = split
        .query
        .iter()
        .flatten()
        .chain(split.trials.iter().flat_map(|t| &t.gallery))
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(decoded.len(), expected.len(), "every test image kept once");
    // The images go; the kept ones are all the second evaluation needs.
    for path in &expected {
        std::fs::remove_file(root.join(path)).unwrap();
    }
    let second = run(Some(&mut decoded)).unwrap();
    for e in [&first, &second] {
        let q = (e.shared.as_ref().unwrap(), plain.shared.as_ref().unwrap());
        assert_eq!(q.0.pool, q.1.pool);
        assert_eq!(q.0.bn, q.1.bn);
        for ((_, _, g), (_, _, h)) in e.per_trial.iter().zip(&plain.per_trial) {
            assert_eq!(g.pool, h.pool);
            assert_eq!(g.bn, h.bn);
        }
        let m = |r: &vireid_eval::TrialReport| r.score(vireid_eval::Score::Fused).mean.map;
        assert_eq!(m(&e.report), m(&plain.report));
    }
    // Without the store the files are needed, and their absence is an error naming one.
    let err = run(None).err().expect("the images are gone").to_string();
    assert!(err.contains(root.to_str().unwrap()), "{err}");
    // At another size nothing kept fits: it starts afresh, and reads files again.
    let smaller = ExtractionSettings {
        size: Size::new(80, 40),
        ..settings
    };
    assert!(evaluate_network(
        &net,
        Dataset::Sysu,
        images,
        &smaller,
        Some(&mut decoded),
        &Silent,
        "t"
    )
    .is_err());
    assert_eq!(decoded.len(), 0);
}

#[test]
fn a_budget_keeps_only_what_it_allows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (split, _vs, net) = world(root, 4, &[0]);
    let settings = settings(false, 4);
    let images = ProtocolImages {
        root,
        split: &split,
        direction: DIRECTION,
    };
    let mut decoded = DecodedImages::with_budget(96 * 48 * 3 * 2); // two images
    evaluate_network(
        &net,
        Dataset::Sysu,
        images,
        &settings,
        Some(&mut decoded),
        &Silent,
        "t",
    )
    .unwrap();
    assert_eq!(decoded.len(), 2);
}
