//! The commands that need no network start without libtorch; the others are handed over to
//! vireid-torch with their arguments, and a missing vireid-torch is named.

mod common;
use common::vireid;

use std::process::Command;

/// Runs `exe args`, returning (success, peak resident memory in MB, wall seconds).
// The child is reaped by wait4, which std's Child does not know of.
#[allow(clippy::zombie_processes)]
fn measured(exe: &str, args: &[&str]) -> (bool, f64, f64) {
    let start = std::time::Instant::now();
    let child = Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: waits for our own child, filling the struct it is given.
    let usage = unsafe {
        libc::wait4(child.id() as i32, &mut status, 0, usage.as_mut_ptr());
        usage.assume_init()
    };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (
        ok,
        usage.ru_maxrss as f64 / 1024.0,
        start.elapsed().as_secs_f64(),
    )
}

#[test]
fn framework_free_commands_never_load_libtorch() {
    let exe = env!("CARGO_BIN_EXE_vireid");
    for command in [
        "synth", "splits", "prepare", "metrics", "augment", "weights", "search", "summary",
    ] {
        let (ok, mb, _) = measured(exe, &[command, "--help"]);
        assert!(ok, "{command} --help failed");
        // libtorch alone maps about 500 MB when it loads.
        assert!(mb < 50.0, "{command}: {mb:.0} MB peak: libtorch was loaded");
    }
    // A network command is handed over: vireid-torch, with libtorch, answers.
    let (ok, mb, _) = measured(exe, &["train", "--help"]);
    assert!(ok);
    assert!(mb > 100.0, "train ran in {mb:.0} MB: not in vireid-torch?");
    let out = vireid(&["help", "extract"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Usage: vireid extract") && help.contains("--checkpoint"),
        "{help}"
    );
    // Every command is listed by the one entry point.
    let out = vireid(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for command in [
        "synth", "prepare", "splits", "metrics", "augment", "weights", "train", "test", "extract",
        "demo", "embed", "search", "summary",
    ] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing:\n{help}"
        );
    }
    assert!(!help.contains("Not yet available"), "{help}");
}

#[test]
fn a_missing_vireid_torch_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("vireid");
    std::fs::copy(env!("CARGO_BIN_EXE_vireid"), &alone).unwrap();
    let out = Command::new(&alone)
        .args(["train", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vireid-torch") && err.contains("cargo build --release -p vireid"),
        "{err}"
    );
    // The framework-free commands work without it.
    let out = Command::new(&alone)
        .args(["metrics", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
}
