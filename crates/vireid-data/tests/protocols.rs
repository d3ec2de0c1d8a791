//! Query and gallery lists, item for item, against (a) the reference's own data_manager.py run
//! on the hand-made fixture trees (outputs committed in fixtures/expected) and (b) an
//! independent CPython statement of the rules on synthetic trees and multi-shot galleries.

mod common;
use std::path::Path;
use vireid_data::synth::{generate, SynthConfig};
use vireid_data::{splits, Dataset, Direction, Mode, Protocol, Shot};

fn protocol(dataset: Dataset, mode: Mode, shot: Shot, direction: Direction) -> Protocol {
    Protocol {
        dataset,
        mode,
        shot,
        direction,
    }
}

fn ours(root: &Path, p: &Protocol, trials: &[u32]) -> serde_json::Value {
    serde_json::to_value(splits(root, p, trials).unwrap()).unwrap()
}

fn expected(name: &str) -> serde_json::Value {
    let path = common::fixtures()
        .join("expected")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn oracle(dataset: &str, root: &Path, p: &Protocol, trials: &[u32]) -> serde_json::Value {
    let script = std::fs::read_to_string(common::fixtures().join("../oracle/splits.py")).unwrap();
    let mode = match p.mode {
        Mode::All => "all",
        Mode::Indoor => "indoor",
    };
    let shot = match p.shot {
        Shot::Single => "single",
        Shot::Multi => "multi",
    };
    let direction = match (dataset, p.direction) {
        ("regdb", Direction::VisibleToInfrared) => "v2t",
        ("regdb", Direction::InfraredToVisible) => "t2v",
        (_, Direction::VisibleToInfrared) => "v2i",
        (_, Direction::InfraredToVisible) => "i2v",
    };
    let trials: Vec<String> = trials.iter().map(u32::to_string).collect();
    let mut args = vec![dataset, root.to_str().unwrap(), mode, shot, direction];
    args.extend(trials.iter().map(String::as_str));
    serde_json::from_str(&common::run_python(&script, &args)).unwrap()
}

const V2I: Direction = Direction::VisibleToInfrared;
const I2V: Direction = Direction::InfraredToVisible;

#[test]
fn sysu_single_shot_equals_reference() {
    let root = common::fixtures().join("sysu");
    let trials: Vec<u32> = (0..10).collect();
    for (mode, name) in [
        (Mode::All, "sysu_all_single"),
        (Mode::Indoor, "sysu_indoor_single"),
    ] {
        let p = protocol(Dataset::Sysu, mode, Shot::Single, I2V);
        assert_eq!(ours(&root, &p, &trials), expected(name), "{name}");
    }
}

#[test]
fn llcm_both_directions_equal_reference() {
    let root = common::fixtures().join("llcm");
    let trials: Vec<u32> = (0..10).collect();
    for (dir, name) in [(V2I, "llcm_v2i_single"), (I2V, "llcm_i2v_single")] {
        let p = protocol(Dataset::Llcm, Mode::All, Shot::Single, dir);
        assert_eq!(ours(&root, &p, &trials), expected(name), "{name}");
    }
}

#[test]
fn regdb_both_directions_equal_reference() {
    let root = common::fixtures().join("regdb");
    for (dir, name) in [(V2I, "regdb_v2t_single"), (I2V, "regdb_t2v_single")] {
        let p = protocol(Dataset::Regdb, Mode::All, Shot::Single, dir);
        assert_eq!(ours(&root, &p, &[1, 2]), expected(name), "{name}");
    }
}

#[test]
fn multi_shot_equals_cpython_on_fixtures() {
    let trials: Vec<u32> = (0..10).collect();
    let root = common::fixtures().join("sysu");
    for mode in [Mode::All, Mode::Indoor] {
        let p = protocol(Dataset::Sysu, mode, Shot::Multi, I2V);
        let split = splits(&root, &p, &trials).unwrap();
        // Folders with fewer than ten images are reported, not silently shortened.
        assert!(split
            .warnings
            .iter()
            .any(|w| w.contains("fewer than the 10")));
        assert_eq!(
            serde_json::to_value(&split).unwrap(),
            oracle("sysu", &root, &p, &trials)
        );
    }
    let root = common::fixtures().join("llcm");
    for dir in [V2I, I2V] {
        let p = protocol(Dataset::Llcm, Mode::All, Shot::Multi, dir);
        assert_eq!(ours(&root, &p, &trials), oracle("llcm", &root, &p, &trials));
    }
}

#[test]
fn every_protocol_equals_cpython_on_synthetic_trees() {
    let dir = tempfile::tempdir().unwrap();
    for (dataset, name) in [
        (Dataset::Sysu, "sysu"),
        (Dataset::Llcm, "llcm"),
        (Dataset::Regdb, "regdb"),
    ] {
        let root = dir.path().join(name);
        let mut cfg = SynthConfig::new(dataset);
        cfg.ids = 30;
        cfg.seed = 7;
        cfg.size = vireid_data::Size::new(32, 16);
        generate(&root, &cfg, &|_, _| {}).unwrap();
        let trials: Vec<u32> = Protocol::default_trials(dataset);
        let modes: &[Mode] = if dataset == Dataset::Sysu {
            &[Mode::All, Mode::Indoor]
        } else {
            &[Mode::All]
        };
        let dirs: &[Direction] = if dataset == Dataset::Sysu {
            &[I2V]
        } else {
            &[V2I, I2V]
        };
        let shots: &[Shot] = if dataset == Dataset::Regdb {
            &[Shot::Single]
        } else {
            &[Shot::Single, Shot::Multi]
        };
        for &mode in modes {
            for &direction in dirs {
                for &shot in shots {
                    let p = protocol(dataset, mode, shot, direction);
                    assert_eq!(
                        ours(&root, &p, &trials),
                        oracle(name, &root, &p, &trials),
                        "{p:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn sysu_train_set_order_and_labels() {
    let root = common::fixtures().join("sysu");
    let set = vireid_data::sysu::train_set(&root).unwrap();
    // Train ids 1, 3, 5 and val id 9; labels are ranks among ids with infrared images.
    let labels = |items: &[vireid_data::TrainItem]| -> Vec<(String, i64)> {
        items
            .iter()
            .map(|i| (i.path.to_string_lossy().into_owned(), i.label))
            .collect()
    };
    let vis = labels(&set.visible);
    let dirs: Vec<&str> = vis.iter().map(|(p, _)| &p[..9]).collect();
    assert_eq!(
        dirs,
        [
            "cam1/0001",
            "cam1/0001",
            "cam2/0003",
            "cam2/0003",
            "cam2/0003",
            "cam4/0003",
            "cam5/0005",
            "cam5/0005",
            "cam1/0009"
        ]
    );
    assert_eq!(
        vis.iter().map(|v| v.1).collect::<Vec<_>>(),
        [0, 0, 1, 1, 1, 1, 2, 2, 3]
    );
    let ir = labels(&set.thermal);
    let dirs: Vec<&str> = ir.iter().map(|(p, _)| &p[..9]).collect();
    assert_eq!(
        dirs,
        [
            "cam3/0001",
            "cam3/0001",
            "cam6/0003",
            "cam3/0005",
            "cam3/0005",
            "cam3/0005",
            "cam6/0005",
            "cam6/0009",
            "cam6/0009"
        ]
    );
    assert_eq!(set.num_classes(), 4);
    // Files within a folder are in sorted order.
    let mut sorted = vis[2..5].to_vec();
    sorted.sort();
    assert_eq!(&vis[2..5], &sorted[..]);
}

#[test]
fn regdb_and_llcm_train_sets_follow_the_lists() {
    let set = vireid_data::regdb::train_set(&common::fixtures().join("regdb"), 2).unwrap();
    let list =
        std::fs::read_to_string(common::fixtures().join("regdb/idx/train_thermal_2.txt")).unwrap();
    let want: Vec<(String, i64)> = list
        .lines()
        .map(|l| {
            let (p, lab) = l.split_once(' ').unwrap();
            (p.to_string(), lab.parse().unwrap())
        })
        .collect();
    let got: Vec<(String, i64)> = set
        .thermal
        .iter()
        .map(|i| (i.path.to_string_lossy().into_owned(), i.label))
        .collect();
    assert_eq!(got, want);
    let set = vireid_data::llcm::train_set(&common::fixtures().join("llcm")).unwrap();
    assert_eq!(set.visible.len(), 6);
    assert_eq!(set.num_classes(), 2);
}
