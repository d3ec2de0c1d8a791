//! The ten kinds of bad input and interruption that once aborted, panicked or lied, each
//! now one clear error (or a quiet, resumable stop) with nothing half-written.

mod common;
use common::{s, synth, train, vireid};

use ndarray::{Array1, Array2};
use ndarray_npy::write_npy;
use std::path::Path;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean failure: exit status 1 or 2 (clap), no panic, no backtrace, the message naming
/// each of `parts`.
fn refused(o: &Output, parts: &[&str]) -> String {
    let err = stderr(o);
    let code = o.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "exit {code:?} (killed or aborted?): {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{err}"
    );
    for p in parts {
        assert!(err.contains(p), "{p:?} not in: {err}");
    }
    err
}

/// Every file below `dir` (relative paths, sorted).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// A tiny features folder (SYSU-MM01 protocol, two trials) with cameras.
fn features(dir: &Path) {
    let f = |a: usize, b: usize, k: usize| {
        Array2::from_shape_fn((a, b), |(i, j)| {
            (((i * 7 + j * 3 + k) % 11) as f32 - 5.0) / 10.0
        })
    };
    write_npy(dir.join("query_pool.npy"), &f(6, 4, 0)).unwrap();
    write_npy(dir.join("query_bn.npy"), &f(6, 4, 1)).unwrap();
    write_npy(
        dir.join("query_ids.npy"),
        &Array1::from(vec![1i64, 2, 3, 1, 2, 3]),
    )
    .unwrap();
    write_npy(
        dir.join("query_cams.npy"),
        &Array1::from(vec![3i64, 3, 3, 6, 6, 6]),
    )
    .unwrap();
    for t in 0..2 {
        let p = |n: &str| dir.join(format!("trial{t}_gallery_{n}.npy"));
        write_npy(p("pool"), &f(6, 4, 2 + t)).unwrap();
        write_npy(p("bn"), &f(6, 4, 3 + t)).unwrap();
        write_npy(p("ids"), &Array1::from(vec![1i64, 2, 3, 1, 2, 3])).unwrap();
        write_npy(p("cams"), &Array1::from(vec![1i64, 2, 4, 2, 5, 1])).unwrap();
    }
}

#[test]
fn an_npy_header_promising_more_than_the_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_npy(d.join("dist.npy"), &Array2::<f32>::zeros((2, 3))).unwrap();
    write_npy(d.join("g.npy"), &Array1::from(vec![1i64, 2, 3])).unwrap();
    // Ids whose header claims 10^15 elements (8 PB) in a 152-byte file.
    let mut text =
        b"{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000000,), }".to_vec();
    while (10 + text.len() + 1) % 64 != 0 {
        text.push(b' ');
    }
    text.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&text);
    bytes.extend_from_slice(&[0u8; 24]);
    std::fs::write(d.join("q.npy"), &bytes).unwrap();
    let o = vireid(&[
        "metrics",
        "--distmat",
        s(&d.join("dist.npy")),
        "--query-ids",
        s(&d.join("q.npy")),
        "--gallery-ids",
        s(&d.join("g.npy")),
        "--protocol",
        "regdb",
    ]);
    refused(&o, &["q.npy", "promises"]);
}

#[test]
fn alpha_outside_zero_to_one() {
    let dir = tempfile::tempdir().unwrap();
    features(dir.path());
    let metrics = ["metrics", "--features", s(dir.path()), "--protocol", "sysu"];
    let test = [
        "test",
        "--dataset",
        "sysu",
        "--root",
        "r",
        "--checkpoint",
        "c.t",
    ];
    for alpha in ["NaN", "inf", "-3", "5"] {
        let alpha = format!("--alpha={alpha}");
        for command in [&metrics[..], &test[..]] {
            let o = vireid(&[command, &[alpha.as_str()]].concat());
            refused(&o, &["--alpha", "[0, 1]"]);
        }
    }
    let o = vireid(&[&metrics[..], &["--alpha", "0.5"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_features_folder_without_the_cameras_its_protocol_needs() {
    for missing in ["trial1_gallery_cams.npy", "query_cams.npy"] {
        let dir = tempfile::tempdir().unwrap();
        features(dir.path());
        std::fs::remove_file(dir.path().join(missing)).unwrap();
        let o = vireid(&["metrics", "--features", s(dir.path()), "--protocol", "sysu"]);
        refused(&o, &[missing, "camera"]);
        // RegDB's protocol uses no cameras: the same folder is fine there.
        let o = vireid(&[
            "metrics",
            "--features",
            s(dir.path()),
            "--protocol",
            "regdb",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn rerank_inputs_checked_and_its_overflow_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (nq, ng) = (3, 4);
    let qg = Array2::from_shape_fn((nq, ng), |(i, j)| 1.0 + ((i + 2 * j) % 5) as f32);
    let sym = |n: usize, scale: f32| {
        Array2::from_shape_fn((n, n), |(i, j)| {
            if i == j {
                0.0
            } else {
                scale * (1.0 + ((i + j) % 3) as f32)
            }
        })
    };
    write_npy(d.join("qg.npy"), &qg).unwrap();
    write_npy(d.join("qq.npy"), &sym(nq, 1.0)).unwrap();
    let mut gg = sym(ng, 1.0);
    gg[[1, 2]] = f32::NAN;
    write_npy(d.join("gg_nan.npy"), &gg).unwrap();
    write_npy(d.join("gg.npy"), &sym(ng, 1.0)).unwrap();
    // Finite (at most 8e37), but their squares are not.
    write_npy(d.join("huge.npy"), &qg.mapv(|v| v * 1.6e37)).unwrap();
    write_npy(d.join("qi.npy"), &Array1::from(vec![1i64, 2, 3])).unwrap();
    write_npy(d.join("gi.npy"), &Array1::from(vec![1i64, 2, 3, 1])).unwrap();
    let run = |qg: &str, gg: &str| {
        vireid(&[
            "metrics",
            "--distmat",
            s(&d.join(qg)),
            "--query-ids",
            s(&d.join("qi.npy")),
            "--gallery-ids",
            s(&d.join("gi.npy")),
            "--protocol",
            "regdb",
            "--rerank",
            "--query-query",
            s(&d.join("qq.npy")),
            "--gallery-gallery",
            s(&d.join(gg)),
        ])
    };
    refused(
        &run("qg.npy", "gg_nan.npy"),
        &["gallery-gallery", "row 1, column 2"],
    );
    let err = refused(&run("huge.npy", "gg.npy"), &["internal overflow"]);
    assert!(!err.contains("non-finite"), "{err}");
    assert!(run("qg.npy", "gg.npy").status.success());
}

const SMALL: &str = common::SMALL_TRAINING;

#[test]
fn bad_training_configs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("sysu");
    synth("sysu", &root, 10, 5);
    let clean = files(&root);
    let config = d.join("c.toml");
    let out = d.join("run");
    for (extra, key) in [
        ("height = 0", "height"),
        ("backbone = \"resnet7\"", "backbone"),
        ("lr = nan", "lr"),
        ("weight_decay = nan", "weight_decay"),
        ("lr = -0.1", "lr"),
        ("momentum = -0.9", "momentum"),
    ] {
        // The small config with `extra`'s key replaced.
        let kept: String = SMALL
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} ")))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&config, format!("{kept}{extra}\n")).unwrap();
        let o = train(&root, &config, &out, &[]);
        refused(&o, &["config key", key]);
        assert_eq!(
            files(&root),
            clean,
            "{extra}: the dataset root was written to"
        );
        assert!(!out.exists(), "{extra}: a run folder was left");
    }
    std::fs::write(&config, SMALL).unwrap();
    refused(
        &train(&root, &config, &out, &["--epochs", "0"]),
        &["epochs"],
    );
    assert!(!out.exists());
    // A pretrained file that is not a checkpoint fails after the run folder was made: the
    // folder goes with the failure.
    let junk = d.join("junk.pth");
    std::fs::write(&junk, b"not weights").unwrap();
    refused(
        &train(
            &root,
            &config,
            &out,
            &["--pretrained", s(&junk), "--epochs", "1"],
        ),
        &["junk.pth"],
    );
    assert!(!out.exists(), "a failed run left {:?}", files(&out));
    refused(
        &train(
            &root,
            &config,
            &out,
            &["--pretrained", s(&d.join("none.pth"))],
        ),
        &["none.pth", "do not exist"],
    );
}

#[test]
fn synth_refuses_nonsense_and_occupied_folders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    for (flag, value) in [("--noise", "NaN"), ("--height", "0"), ("--width", "100000")] {
        let o = vireid(&["synth", "--dataset", "sysu", "--out", s(&out), flag, value]);
        refused(&o, &[]);
        assert!(!out.exists(), "{flag} {value}: something was written");
    }
    synth("sysu", &out, 6, 0);
    let before = files(&out);
    let o = vireid(&["synth", "--dataset", "sysu", "--out", s(&out), "--ids", "9"]);
    refused(&o, &["--replace"]);
    assert_eq!(files(&out), before);
    let o = vireid(&[
        "synth",
        "--dataset",
        "sysu",
        "--out",
        s(&out),
        "--ids",
        "9",
        "--replace",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["ids"], 9);
}

#[test]
fn a_second_ctrl_c_ends_training_quietly_and_the_hint_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("sysu");
    synth("sysu", &root, 10, 5);
    let config = d.join("c.toml");
    std::fs::write(&config, SMALL).unwrap();
    let out = d.join("my run");
    let start = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "train",
            "--dataset",
            "sysu",
            "--root",
            s(&root),
            "--config",
            s(&config),
            "--out",
            s(&out),
            "--threads",
            "2",
            "--seed",
            "3",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        std::process::Command::new(env!("CARGO_BIN_EXE_vireid"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let wait_for_run = |child: &std::process::Child| {
        // Until the run folder holds its config: training has begun.
        for _ in 0..600 {
            if out.join("config.toml").exists() {
                std::thread::sleep(std::time::Duration::from_millis(300));
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("training of pid {} never started", child.id());
    };
    // Twice: the current step is abandoned, the process ends at once with 130 and one line.
    // Steps of 32 images at 256 x 128 (seconds each), so that the second Ctrl-C lands inside
    // the step the first one asked to finish.
    let slow = SMALL
        .replace("height = 96", "height = 256")
        .replace("width = 48", "width = 128")
        .replace("ids_per_batch = 3", "ids_per_batch = 4")
        .replace("images_per_id = 2", "images_per_id = 4");
    std::fs::write(&config, slow).unwrap();
    let child = start(&["--epochs", "50"]);
    wait_for_run(&child);
    let pid = child.id() as i32;
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(pid, libc::SIGINT);
        std::thread::sleep(std::time::Duration::from_millis(50));
        libc::kill(pid, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    for bad in [
        "libtorch",
        "torch error",
        "frame #",
        "panicked",
        "terminate called",
    ] {
        assert!(!err.contains(bad), "{bad}: {err}");
    }
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::write(&config, SMALL).unwrap();
    // Once: saved, and the printed command continues the run when pasted into a shell.
    let child = start(&["--epochs", "2"]);
    wait_for_run(&child);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let hint = text
        .split("continue with: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no hint in {text}"))
        .trim()
        .to_string();
    assert!(
        hint.contains("--seed 3") && hint.contains("--config"),
        "{hint}"
    );
    let bin = env!("CARGO_BIN_EXE_vireid");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(hint.replacen("vireid", &format!("'{bin}'"), 1))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["next_epoch"], 2);
}

#[test]
fn a_batch_with_nan_is_refused_by_extract() {
    let dir = tempfile::tempdir().unwrap();
    let mut batch = ndarray::Array4::<f32>::zeros((2, 3, 8, 4));
    batch[[1, 2, 3, 1]] = f32::NAN;
    let input = dir.path().join("batch.npy");
    write_npy(&input, &batch).unwrap();
    let o = vireid(&[
        "extract",
        "--checkpoint",
        s(&dir.path().join("never-read.t")),
        "--modality",
        "thermal",
        "--input",
        s(&input),
        "--out",
        s(&dir.path().join("out")),
    ]);
    refused(&o, &["batch.npy", "NaN", "(1, 2, 3, 1)"]);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_output_path_that_cannot_be_written_is_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let inside = file.join("out");
    for args in [
        vec!["synth", "--dataset", "sysu", "--out", s(&inside)],
        vec![
            "metrics",
            "--features",
            s(dir.path()),
            "--protocol",
            "regdb",
            "--per-query",
            s(&inside),
        ],
        vec![
            "train",
            "--dataset",
            "sysu",
            "--root",
            s(dir.path()),
            "--out",
            s(&inside),
        ],
    ] {
        refused(&vireid(&args), &["a-file", "is not a folder"]);
    }
}

#[test]
fn messages_say_each_cause_once_without_internal_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch.npy");
    write_npy(&batch, &ndarray::Array4::<f32>::zeros((1, 3, 8, 4))).unwrap();
    let o = vireid(&[
        "extract",
        "--checkpoint",
        "/no/such/model.t",
        "--modality",
        "visible",
        "--input",
        s(&batch),
        "--out",
        s(&dir.path().join("out")),
    ]);
    let err = refused(&o, &["/no/such/model.t"]);
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "lr = -1.0\n").unwrap();
    let o = vireid(&[
        "train",
        "--dataset",
        "sysu",
        "--root",
        s(dir.path()),
        "--config",
        s(&config),
        "--out",
        s(&dir.path().join("run")),
    ]);
    let err = refused(&o, &["config key lr"]);
    assert!(!err.contains("input:"), "{err}");
}
