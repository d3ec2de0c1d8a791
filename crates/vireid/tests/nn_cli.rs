//! `vireid extract` and `vireid test` end to end: features equal PyTorch's through the command
//! line, the test protocol on synthetic trees of SYSU-MM01 and RegDB, and bad inputs.

mod common;
use common::{oracle, python, s, synth, vireid};

use ndarray::Array2;
use ndarray_npy::read_npy;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn ok_json(args: &[&str]) -> Value {
    let out = vireid(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

#[test]
fn extract_equals_pytorch_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    oracle(
        d,
        &[
            "--depth",
            "50",
            "--dataset",
            "regdb",
            "--n",
            "3",
            "--height",
            "96",
            "--width",
            "48",
        ],
    );
    let out = d.join("features");
    let v = ok_json(&[
        "extract",
        "--checkpoint",
        s(&d.join("ref.t")),
        "--modality",
        "thermal",
        "--input",
        s(&d.join("input.npy")),
        "--out",
        s(&out),
        "--flip",
        "--batch",
        "2",
        "--json",
    ]);
    assert_eq!(v["images"], 3);
    assert_eq!(v["dim"], 4096);
    assert_eq!(v["network"]["layer4"], false);
    for name in ["pool", "bn"] {
        let ours: Array2<f32> = read_npy(out.join(format!("{name}.npy"))).unwrap();
        let want: Array2<f32> = read_npy(d.join(format!("thermal_1_{name}.npy"))).unwrap();
        assert_eq!(ours.dim(), want.dim());
        let diff = (&ours - &want).mapv(f32::abs).fold(0f32, |m, &x| m.max(x));
        assert!(diff <= 1e-4, "{name}: {diff}");
    }
}

#[test]
fn test_protocol_on_synthetic_sysu_and_its_saved_features() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("sysu");
    synth("sysu", &root, 10, 4);
    oracle(d, &["--depth", "18", "--dataset", "sysu", "--n", "1"]);
    let saved = d.join("features");
    let v = ok_json(&[
        "test",
        "--dataset",
        "sysu",
        "--root",
        s(&root),
        "--checkpoint",
        s(&d.join("ref.t")),
        "--trials",
        "3",
        "--height",
        "96",
        "--width",
        "48",
        "--batch",
        "16",
        "--save-features",
        s(&saved),
        "--json",
    ]);
    let report = &v["report"];
    assert_eq!(report["trials"].as_array().unwrap().len(), 3);
    assert_eq!(report["scores"].as_array().unwrap().len(), 4);
    assert!((report["alpha"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(v["network"]["depth"], "resnet18");
    // The query is the protocol's, in its order.
    let splits = ok_json(&[
        "splits",
        "--dataset",
        "sysu",
        "--root",
        s(&root),
        "--trials",
        "3",
        "--json",
    ]);
    let ids: Array2<i64> = read_npy::<_, ndarray::Array1<i64>>(saved.join("query_ids.npy"))
        .unwrap()
        .insert_axis(ndarray::Axis(1));
    let want: Vec<i64> = splits["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.column(0).to_vec(), want);
    // Evaluating the saved features again gives the same numbers.
    let again = ok_json(&[
        "metrics",
        "--features",
        s(&saved),
        "--protocol",
        "sysu",
        "--json",
    ]);
    for (a, b) in report["scores"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["scores"].as_array().unwrap())
    {
        assert_eq!(a["mean"], b["mean"]);
    }
    // The table says what a user looks for.
    let out = vireid(&[
        "test",
        "--dataset",
        "sysu",
        "--root",
        s(&root),
        "--checkpoint",
        s(&d.join("ref.t")),
        "--trial",
        "0",
        "--height",
        "96",
        "--width",
        "48",
        "--no-flip",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "Rank-1",
        "mAP",
        "mINP",
        "fused (a=0.2)",
        "headline",
        "flip off",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
}

#[test]
fn regdb_takes_one_checkpoint_per_trial_and_warns_for_a_single_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("regdb");
    synth("regdb", &root, 8, 2);
    oracle(d, &["--depth", "18", "--dataset", "regdb", "--n", "1"]);
    for t in [1, 2] {
        std::fs::copy(d.join("ref.t"), d.join(format!("regdb_trial{t}.t"))).unwrap();
    }
    let pattern = d.join("regdb_trial{trial}.t");
    let single = d.join("ref.t");
    let test = |checkpoint: &Path, trials: &str, extra: &[&str]| {
        let mut args = vec![
            "test",
            "--dataset",
            "regdb",
            "--root",
            s(&root),
            "--checkpoint",
            s(checkpoint),
            "--trials",
            trials,
            "--height",
            "96",
            "--width",
            "48",
        ];
        args.extend(extra);
        vireid(&args)
    };
    let out = test(&pattern, "2", &["--direction", "t2v", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checkpoints"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["report"]["alpha"].as_f64().unwrap(),
        0.0,
        "RegDB t2v fuses with a = 0"
    );
    let out = test(&single, "2", &["--json"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one checkpoint for 2 RegDB trials"));
    // A missing trial checkpoint names the file.
    let out = test(&pattern, "3", &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("regdb_trial3.t"));
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    oracle(
        d,
        &[
            "--depth",
            "18",
            "--dataset",
            "sysu",
            "--n",
            "1",
            "--height",
            "96",
            "--width",
            "48",
        ],
    );
    let input = d.join("input.npy");
    let extract = |checkpoint: &Path, input: &Path, extra: &[&str]| {
        let mut args = vec![
            "extract",
            "--checkpoint",
            s(checkpoint),
            "--modality",
            "visible",
            "--input",
            s(input),
            "--out",
        ];
        let out_dir = d.join("o");
        args.push(s(&out_dir));
        args.extend(extra);
        vireid(&args)
    };
    let fails = |out: Output| {
        assert!(!out.status.success(), "should fail");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        err
    };

    let bytes = std::fs::read(d.join("ref.t")).unwrap();
    std::fs::write(d.join("half.t"), &bytes[..bytes.len() / 3]).unwrap();
    let err = fails(extract(&d.join("half.t"), &input, &[]));
    assert!(
        err.contains("half.t") && err.contains("truncated or corrupt"),
        "{err}"
    );

    std::fs::write(d.join("list.txt"), "0001 0002\n").unwrap();
    let err = fails(extract(&d.join("list.txt"), &input, &[]));
    assert!(
        err.contains("list.txt") && err.contains("not a checkpoint"),
        "{err}"
    );

    // On a machine without a GPU, --device cuda is refused before any work.
    let out = extract(&d.join("ref.t"), &input, &["--device", "cuda"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("CUDA is not available"), "{err}");
    }

    // A batch of the wrong shape.
    let script =
        "import numpy as np, sys; np.save(sys.argv[1], np.zeros((2, 4, 8, 8), np.float32))";
    let bad = d.join("four_channels.npy");
    let st = Command::new(python())
        .args(["-c", script, s(&bad)])
        .status()
        .unwrap();
    assert!(st.success());
    let err = fails(extract(&d.join("ref.t"), &bad, &[]));
    assert!(
        err.contains("four_channels.npy") && err.contains("N x 3 x H x W"),
        "{err}"
    );
}

/// `vireid-torch` is linked without libtorch_cuda and loads it first thing where an NVIDIA
/// driver is: without one nothing of CUDA is mapped (0.1 s of every start saved), and loaded
/// late it still registers with libtorch (the versions only its CUDA half can answer).
#[test]
fn libtorch_cuda_is_loaded_where_a_driver_is_and_registers_when_loaded() {
    let env = |cuda: Option<&str>| -> Value {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vireid"));
        cmd.args(["env", "--json"]);
        match cuda {
            Some(v) => cmd.env("VIREID_CUDA", v),
            None => cmd.env_remove("VIREID_CUDA"),
        };
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let loaded = |v: &Value| {
        assert_eq!(
            v["libtorch_cuda_in_process"],
            v["cuda_half"] == "loaded",
            "{v}"
        );
        if v["cuda_half"] == "loaded" {
            assert!(v["cuda_runtime_version"].as_i64().unwrap() > 0, "{v}");
            assert!(v["cudnn_version"].as_i64().unwrap() > 0, "{v}");
        } else {
            assert!(
                v["cuda_runtime_version"].is_null() && v["cudnn_version"].is_null(),
                "{v}"
            );
            assert_eq!(v["gpus"], 0, "{v}");
        }
    };
    let default = env(None);
    loaded(&default);
    // Which libtorch answered, for bug reports: the wheel's version beside its library.
    assert!(
        default["libtorch_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{default}"
    );
    let off = env(Some("0"));
    loaded(&off);
    assert_eq!(off["cuda_half"], "not loaded: VIREID_CUDA=0");
    // Forced on a machine without a driver: loaded late, it still answers. A libtorch with
    // no CUDA half says why it failed instead; one with it (the NCCL backend is only built
    // then) must load.
    let forced = env(Some("1"));
    loaded(&forced);
    let said = forced["cuda_half"].as_str().unwrap();
    if forced["nccl_built"] == true {
        assert_eq!(said, "loaded", "{forced}");
    } else {
        assert!(said.starts_with("failed to load"), "{forced}");
    }
}
