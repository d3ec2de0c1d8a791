//! Helpers the command-line tests share. Each test binary uses a different subset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `vireid` binary under test.
pub fn vireid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vireid"))
        .args(args)
        .output()
        .unwrap()
}

/// `$VIREID_PYTHON`, else the project's `.venv` (scripts/python-env.sh creates it).
pub fn python() -> PathBuf {
    std::env::var_os("VIREID_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
            assert!(
                venv.exists(),
                "run scripts/python-env.sh (the README's test command does) or set VIREID_PYTHON"
            );
            venv
        })
}

/// Runs Python code with `args` (its sys.argv[1:]), asserting that it worked.
pub fn run_python(code: &str, args: &[&str]) {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// crates/vireid-nn's oracle (`reference_net.py --out DIR ARGS`): reference-format
/// checkpoints, torchvision-layout ImageNet files and PyTorch's features for them.
pub fn oracle(dir: &Path, args: &[&str]) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vireid-nn/tests/oracle/reference_net.py");
    let out = Command::new(python())
        .arg(script)
        .arg("--out")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `vireid synth` of `ids` people into `root` (a benchmark layout: sysu, regdb, llcm),
/// asserting that it worked.
pub fn synth(dataset: &str, root: &Path, ids: u32, seed: u64) {
    let (ids, seed) = (ids.to_string(), seed.to_string());
    let out = vireid(&[
        "synth",
        "--dataset",
        dataset,
        "--out",
        s(root),
        "--ids",
        &ids,
        "--seed",
        &seed,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A training config small enough for tests: ResNet-18 at 96 x 48, 3 people x 2 images,
/// from random weights (no ImageNet lookup or download).
pub const SMALL_TRAINING: &str = "backbone = \"resnet18\"\nheight = 96\nwidth = 48\n\
ids_per_batch = 3\nimages_per_id = 2\nlr = 0.01\neval_every = 1\neval_from = 1\n\
pretrained = \"none\"\n";

/// The `vireid train` command of the SYSU-MM01 tree at `root` with the config file `config`
/// into `out`, to add flags and environment to.
pub fn train_command(root: &Path, config: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vireid"));
    cmd.args(["train", "--dataset", "sysu", "--root", s(root)])
        .args(["--config", s(config), "--out", s(out)]);
    cmd
}

/// `vireid train` of the SYSU-MM01 tree at `root` with the config file `config` into `out`
/// on two threads, plus `extra` flags.
pub fn train(root: &Path, config: &Path, out: &Path, extra: &[&str]) -> Output {
    train_command(root, config, out)
        .args(["--threads", "2"])
        .args(extra)
        .output()
        .unwrap()
}

/// The fused score's mean metrics (`cmc`, `mAP`, `mINP` as fractions) of a test report as
/// the commands print it in JSON.
pub fn fused_mean(report: &serde_json::Value) -> &serde_json::Value {
    &report["scores"]
        .as_array()
        .expect("a report's scores")
        .iter()
        .find(|s| s["score"] == "fused")
        .expect("the fused score")["mean"]
}
