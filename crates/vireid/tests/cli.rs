//! The command-line contract of DESIGN.md: subcommands, --json documents, errors.

use std::path::Path;
use std::process::{Command, Output};

fn vireid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vireid"))
        .args(args)
        .output()
        .unwrap()
}

fn ok_json(args: &[&str]) -> serde_json::Value {
    let out = vireid(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document")
}

fn fails(args: &[&str], says: &[&str]) {
    let out = vireid(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for s in says {
        assert!(
            err.contains(s),
            "{args:?}: stderr {err:?} should mention {s:?}"
        );
    }
}

fn synth(dir: &Path, dataset: &str) -> String {
    let root = dir.join(dataset);
    let r = root.to_str().unwrap().to_string();
    let report = ok_json(&[
        "synth",
        "--dataset",
        dataset,
        "--out",
        &r,
        "--ids",
        "12",
        "--height",
        "48",
        "--width",
        "24",
        "--json",
    ]);
    assert_eq!(report["dataset"], dataset);
    r
}

fn check_entries(list: &serde_json::Value) -> usize {
    let list = list.as_array().unwrap();
    for e in list {
        let path = e["path"].as_str().unwrap();
        assert!(
            !path.starts_with('/'),
            "paths are relative to the root: {path}"
        );
        assert!(e["id"].is_u64() && e["cam"].is_u64());
    }
    list.len()
}

#[test]
fn splits_json_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let sysu = synth(dir.path(), "sysu");
    let v = ok_json(&["splits", "--dataset", "sysu", "--root", &sysu, "--json"]);
    assert!(check_entries(&v["query"]) > 0);
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(
        trials
            .iter()
            .map(|t| t["trial"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    for t in trials {
        assert!(t.get("query").is_none());
        check_entries(&t["gallery"]);
    }
    let v = ok_json(&[
        "splits",
        "--dataset",
        "sysu",
        "--root",
        &sysu,
        "--mode",
        "indoor",
        "--shot",
        "multi",
        "--trial",
        "3",
        "--json",
    ]);
    assert_eq!(v["trials"].as_array().unwrap().len(), 1);
    assert_eq!(v["trials"][0]["trial"], 3);
    for e in v["trials"][0]["gallery"].as_array().unwrap() {
        assert!(
            e["cam"] == 1 || e["cam"] == 2,
            "indoor gallery from cameras 1 and 2 only"
        );
    }

    let regdb = synth(dir.path(), "regdb");
    let v = ok_json(&[
        "splits",
        "--dataset",
        "regdb",
        "--root",
        &regdb,
        "--direction",
        "t2v",
        "--trials",
        "3",
        "--json",
    ]);
    assert!(v["query"].is_null());
    let trials = v["trials"].as_array().unwrap();
    assert_eq!(
        trials
            .iter()
            .map(|t| t["trial"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for t in trials {
        check_entries(&t["query"]);
        check_entries(&t["gallery"]);
        assert!(
            t["query"].as_array().unwrap().iter().all(|e| e["cam"] == 2),
            "t2v queries are thermal (camera 2)"
        );
    }

    let llcm = synth(dir.path(), "llcm");
    for dir_flag in ["v2i", "i2v"] {
        let v = ok_json(&[
            "splits",
            "--dataset",
            "llcm",
            "--root",
            &llcm,
            "--direction",
            dir_flag,
            "--json",
        ]);
        let q: Vec<&str> = v["query"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        let want = if dir_flag == "v2i" {
            "test_vis/"
        } else {
            "test_nir/"
        };
        assert!(q.iter().all(|p| p.starts_with(want)), "{dir_flag}");
    }
}

#[test]
fn splits_table_counts_match_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let sysu = synth(dir.path(), "sysu");
    let v = ok_json(&[
        "splits",
        "--dataset",
        "sysu",
        "--root",
        &sysu,
        "--trial",
        "0",
        "--json",
    ]);
    let out = vireid(&[
        "splits",
        "--dataset",
        "sysu",
        "--root",
        &sysu,
        "--trial",
        "0",
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| -> Vec<usize> {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap();
        line.split('|')
            .skip(1)
            .map(|f| f.trim().parse().unwrap())
            .collect()
    };
    assert_eq!(row("query")[1], v["query"].as_array().unwrap().len());
    assert_eq!(
        row("gallery")[1],
        v["trials"][0]["gallery"].as_array().unwrap().len()
    );
}

#[test]
fn prepare_reports_throughput_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let sysu = synth(dir.path(), "sysu");
    let first = ok_json(&[
        "prepare",
        "--dataset",
        "sysu",
        "--root",
        &sysu,
        "--height",
        "64",
        "--width",
        "32",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(first["up_to_date"], false);
    assert_eq!(first["threads"], 1);
    assert!(first["images_per_second"].as_f64().unwrap() > 0.0);
    let second = ok_json(&[
        "prepare",
        "--dataset",
        "sysu",
        "--root",
        &sysu,
        "--height",
        "64",
        "--width",
        "32",
        "--json",
    ]);
    assert_eq!(second["up_to_date"], true);
    let forced = ok_json(&[
        "prepare",
        "--dataset",
        "sysu",
        "--root",
        &sysu,
        "--height",
        "64",
        "--width",
        "32",
        "--force",
        "--json",
    ]);
    assert_eq!(forced["up_to_date"], false);
    let regdb = synth(dir.path(), "regdb");
    let out = dir.path().join("cache");
    let r = ok_json(&[
        "prepare",
        "--dataset",
        "regdb",
        "--root",
        &regdb,
        "--trial",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--height",
        "32",
        "--width",
        "16",
        "--json",
    ]);
    assert_eq!(r["classes"], 6);
    assert!(out
        .join("regdb_trial4_train_ir_resized_img32x16.npy")
        .exists());
}

#[test]
fn bad_arguments_and_inputs_give_one_clear_error() {
    fails(
        &["splits", "--dataset", "market", "--root", "/tmp"],
        &["market", "sysu", "regdb", "llcm"],
    );
    fails(
        &["splits", "--dataset", "sysu", "--root", "/no/such/dir"],
        &["error:", "/no/such/dir"],
    );
    fails(
        &[
            "splits",
            "--dataset",
            "sysu",
            "--root",
            "/tmp",
            "--mode",
            "outdoor",
        ],
        &["outdoor", "all", "indoor"],
    );
    fails(
        &[
            "splits",
            "--dataset",
            "regdb",
            "--root",
            "/tmp",
            "--direction",
            "sideways",
        ],
        &["sideways", "v2t"],
    );
    fails(
        &["prepare", "--dataset", "llcm", "--root", "/no/such/llcm"],
        &["/no/such/llcm"],
    );
    fails(&["demo", "--out", "/tmp", "--epochs", "0"], &["--epochs"]);
    fails(&["demo", "--out", "/tmp", "--trials", "11"], &["--trials"]);
    fails(&["demo", "--out", "/tmp", "--device", "tpu"], &["tpu"]);
    // A test split that leaves nobody to test or too few to train on names the numbers.
    let dir = tempfile::tempdir().unwrap();
    let synth_out = dir.path().join("synth");
    fails(
        &[
            "synth",
            "--dataset",
            "sysu",
            "--out",
            synth_out.to_str().unwrap(),
            "--ids",
            "10",
            "--test-ids",
            "9",
        ],
        &["9 test identities out of 10"],
    );
    let demo_out = dir.path().join("demo");
    fails(
        &[
            "demo",
            "--out",
            demo_out.to_str().unwrap(),
            "--ids",
            "12",
            "--test-ids",
            "0",
        ],
        &["0 test identities out of 12"],
    );
    assert!(!synth_out.exists() && !demo_out.join("data/synth.json").exists());
}

#[test]
fn every_flag_is_explained_in_help() {
    for (cmd, flags) in [
        (
            "synth",
            &[
                "--dataset",
                "--out",
                "--ids",
                "--seed",
                "--height",
                "--width",
                "--min-images",
                "--max-images",
                "--noise",
                "--test-ids",
                "--threads",
                "--json",
            ][..],
        ),
        (
            "prepare",
            &[
                "--dataset",
                "--root",
                "--height",
                "--width",
                "--trial",
                "--out",
                "--threads",
                "--force",
                "--json",
            ][..],
        ),
        (
            "splits",
            &[
                "--dataset",
                "--root",
                "--mode",
                "--shot",
                "--direction",
                "--trials",
                "--trial",
                "--json",
            ][..],
        ),
        (
            "demo",
            &[
                "--out",
                "--compare",
                "--ids",
                "--test-ids",
                "--epochs",
                "--config",
                "--trials",
                "--seed",
                "--device",
                "--threads",
                "--json",
            ][..],
        ),
        (
            "train",
            &[
                "--dataset",
                "--root",
                "--config",
                "--trial",
                "--epochs",
                "--backbone",
                "--device",
                "--pretrained",
                "--seed",
                "--out",
                "--resume",
                "--threads",
                "--json",
            ][..],
        ),
    ] {
        let out = vireid(&[cmd, "--help"]);
        let help = String::from_utf8(out.stdout).unwrap();
        for flag in flags {
            let line = help
                .lines()
                .find(|l| {
                    l.trim_start().starts_with(flag)
                        || l.contains(&format!(" {flag} "))
                        || l.contains(&format!(" {flag} <"))
                })
                .unwrap_or_else(|| panic!("{cmd} --help lacks {flag}"));
            let idx = help.find(line).unwrap();
            let next = &help[idx + line.len()..];
            let described = line.split_whitespace().count() > 2
                || next.lines().nth(1).is_some_and(|l| l.trim().len() > 3);
            assert!(described, "{cmd} {flag} has no description");
        }
    }
}

/// libtorch's allocations must go to jemalloc with page decay off (README, Benchmarks: the
/// step's speed depends on it). jemalloc prints its options when asked to at exit; glibc's
/// malloc ignores MALLOC_CONF and prints nothing. The executable that runs libtorch is
/// vireid-torch, reached here as `vireid` users reach it.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_allocates_with_jemalloc_keeping_freed_pages() {
    let out = Command::new(env!("CARGO_BIN_EXE_vireid"))
        .args(["train", "--help"])
        .env("MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jemalloc statistics"), "{err}");
    for opt in ["opt.dirty_decay_ms: -1", "opt.muzzy_decay_ms: -1"] {
        assert!(err.contains(opt), "{opt} missing from:\n{err}");
    }
}
