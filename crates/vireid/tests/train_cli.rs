//! `vireid train` on synthetic data: a resumed run ends with the same weights as an
//! uninterrupted one, the run folder's files, the config's errors.

mod common;
use common::{s, synth, vireid};

use serde_json::Value;
use std::path::Path;
use std::process::Output;

const SMALL: &str = common::SMALL_TRAINING;

fn setup(d: &Path) -> std::path::PathBuf {
    let root = d.join("sysu");
    synth("sysu", &root, 10, 5);
    std::fs::write(d.join("small.toml"), SMALL).unwrap();
    root
}

fn train(d: &Path, root: &Path, out: &str, extra: &[&str]) -> Output {
    common::train(root, &d.join("small.toml"), &d.join(out), extra)
}

#[test]
fn resumed_run_ends_with_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = setup(d);
    let straight = train(d, &root, "straight", &["--epochs", "2", "--json"]);
    assert!(
        straight.status.success(),
        "{}",
        String::from_utf8_lossy(&straight.stderr)
    );
    let state: Value = serde_json::from_slice(&straight.stdout).unwrap();
    assert_eq!(state["next_epoch"], 2);
    assert_eq!(state["history"].as_array().unwrap().len(), 2);
    assert!(state["history"][1]["eval"]["rank1"].is_number());
    for f in [
        "config.toml",
        "state.json",
        "metrics.csv",
        "metrics.jsonl",
        "best.safetensors",
        "last.safetensors",
        "epoch1.safetensors",
        "epoch1.optim.safetensors",
    ] {
        assert!(d.join("straight").join(f).exists(), "{f}");
    }
    assert!(
        !d.join("straight/epoch0.safetensors").exists(),
        "old checkpoints are removed"
    );
    let csv = std::fs::read_to_string(d.join("straight/metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);

    // The same run in two pieces (as after a kill at the epoch boundary).
    let first = train(d, &root, "pieces", &["--epochs", "1"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let again = train(d, &root, "pieces", &["--epochs", "1"]);
    assert!(
        !again.status.success(),
        "an existing run is not overwritten"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let second = train(d, &root, "pieces", &["--epochs", "2", "--resume"]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let a = std::fs::read(d.join("straight/last.safetensors")).unwrap();
    let b = std::fs::read(d.join("pieces/last.safetensors")).unwrap();
    assert!(
        a == b,
        "resumed weights differ from the uninterrupted run's"
    );
    let ma = std::fs::read_to_string(d.join("straight/metrics.csv")).unwrap();
    let mb = std::fs::read_to_string(d.join("pieces/metrics.csv")).unwrap();
    let strip = |m: &str| -> Vec<String> {
        // the losses must agree (timings do not; and the first piece also evaluated its last
        // epoch, as every run does)
        m.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                f[..5].join(",")
            })
            .collect()
    };
    assert_eq!(strip(&ma), strip(&mb));

    // Resuming with another config is refused.
    let other = train(
        d,
        &root,
        "pieces",
        &["--epochs", "3", "--resume", "--seed", "9"],
    );
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("another config"));

    // The checkpoint is usable by vireid test.
    let out = vireid(&[
        "test",
        "--dataset",
        "sysu",
        "--root",
        s(&root),
        "--checkpoint",
        s(&d.join("straight/best.safetensors")),
        "--trials",
        "2",
        "--height",
        "96",
        "--width",
        "48",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn config_and_data_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = setup(d);
    let with_config = |config: &Path, out: &str| {
        vireid(&[
            "train",
            "--dataset",
            "sysu",
            "--root",
            s(&root),
            "--config",
            s(config),
            "--out",
            s(&d.join(out)),
        ])
    };
    std::fs::write(d.join("bad.toml"), "epoch = 3\n").unwrap();
    let out = with_config(&d.join("bad.toml"), "r");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("epoch"), "{err}");

    std::fs::write(d.join("many.toml"), format!("{SMALL}ids_per_batch = 50\n")).unwrap();
    let out = with_config(&d.join("many.toml"), "r2");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && err.contains("50"), "{err}");

    let out = vireid(&[
        "train",
        "--dataset",
        "sysu",
        "--root",
        s(&d.join("missing")),
        "--out",
        s(&d.join("r3")),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}
