//! `vireid train` across processes (Gloo over 127.0.0.1): `--nproc 2`, and the same job
//! started as torchrun starts one (RANK, WORLD_SIZE, ... in each process's environment);
//! rank 0 alone writes the run folder; a rank killed mid-epoch fails the job promptly and
//! the job resumes from its last save; a resume with another process count is refused.

mod common;
use common::{s, synth, train_command};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Small and quick: no periodic evaluation.
const CONFIG: &str = "backbone = \"resnet18\"\nheight = 96\nwidth = 48\n\
ids_per_batch = 3\nimages_per_id = 2\nlr = 0.01\neval_every = 0\npretrained = \"none\"\n";

fn setup(d: &Path) -> PathBuf {
    let root = d.join("sysu");
    synth("sysu", &root, 10, 5);
    std::fs::write(d.join("c.toml"), CONFIG).unwrap();
    root
}

fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn train(d: &Path, out: &str, extra: &[&str]) -> Output {
    train_command(&d.join("sysu"), &d.join("c.toml"), &d.join(out))
        .args(["--threads", "1"])
        .args(extra)
        .output()
        .unwrap()
}

/// The `vireid train` arguments of run folder `out`, for a job started by hand.
fn train_args(d: &Path, out: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["train", "--dataset", "sysu", "--threads", "1"]
        .map(String::from)
        .to_vec();
    for (k, v) in [
        ("--root", d.join("sysu")),
        ("--config", d.join("c.toml")),
        ("--out", d.join(out)),
    ] {
        args.extend([k.to_string(), s(&v).to_string()]);
    }
    args.extend(extra.iter().map(|e| e.to_string()));
    args
}

/// The final weights of a run: each tensor's name and bytes.
/// Starts `program args` as the two ranks of a job, each with the variables torchrun sets
/// (written out here, independently of vireid's launcher).
fn spawn_ranks(program: &Path, args: &[String], local_world_size: bool) -> Vec<Child> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (0..2)
        .map(|rank| {
            let mut cmd = Command::new(program);
            cmd.args(args)
                .env("RANK", rank.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if local_world_size {
                cmd.env("LOCAL_WORLD_SIZE", "2");
            }
            cmd.spawn().unwrap()
        })
        .collect()
}

fn weights(run: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(run.join("last.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut w: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

#[test]
fn nproc_trains_resumes_and_refuses_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let first = train(d, "two", &["--nproc", "2", "--epochs", "1", "--json"]);
    // One JSON document: only rank 0 prints.
    let state: Value = serde_json::from_slice(&ok(&first).stdout).unwrap();
    assert_eq!(state["world_size"], 2);
    assert_eq!(state["next_epoch"], 1);
    let one = train(d, "one", &["--epochs", "1", "--json"]);
    let single: Value = serde_json::from_slice(&ok(&one).stdout).unwrap();
    assert!(single.get("world_size").is_none(), "one process: no key");
    // Each of the two ranks takes half the steps of one process, on twice the images.
    let steps = |s: &Value| s["history"][0]["steps"].as_u64().unwrap();
    assert_eq!(steps(&state), steps(&single) / 2);
    for f in [
        "config.toml",
        "state.json",
        "metrics.csv",
        "last.safetensors",
    ] {
        assert!(d.join("two").join(f).exists(), "{f}");
    }
    let more = train(
        d,
        "two",
        &["--nproc", "2", "--epochs", "2", "--resume", "--json"],
    );
    let state: Value = serde_json::from_slice(&ok(&more).stdout).unwrap();
    assert_eq!(state["next_epoch"], 2);
    assert_eq!(state["history"].as_array().unwrap().len(), 2);
    let alone = train(d, "two", &["--epochs", "3", "--resume"]);
    assert!(!alone.status.success());
    let err = String::from_utf8_lossy(&alone.stderr);
    assert!(
        err.contains("trained by 2 process(es) and this job has 1") && err.contains("--nproc 2"),
        "{err}"
    );
}

/// torchrun's way (each process told its rank by the environment) and --nproc give the same
/// job: the same bytes.
#[test]
fn a_job_launched_like_torchrun_equals_nproc() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    ok(&train(d, "nproc", &["--nproc", "2", "--epochs", "1"]));
    let args = train_args(d, "env", &["--epochs", "1"]);
    let exe = Path::new(env!("CARGO_BIN_EXE_vireid"));
    let ranks = spawn_ranks(exe, &args, false);
    for rank in ranks {
        ok(&rank.wait_with_output().unwrap());
    }
    let (a, b) = (weights(&d.join("nproc")), weights(&d.join("env")));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs");
    }
    assert!(!d.join("env/state.json.tmp").exists());
}

/// A rank killed in the middle of an epoch: the other fails within seconds, saying why, and
/// `--resume` finishes the run.
#[test]
fn a_killed_rank_fails_the_job_which_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let args = train_args(d, "run", &["--epochs", "4"]);
    let exe = Path::new(env!("CARGO_BIN_EXE_vireid-torch"));
    let mut ranks = spawn_ranks(exe, &args, true);
    let state = d.join("run/state.json");
    let start = Instant::now();
    while !state.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no epoch saved");
        if let Some(status) = ranks[0].try_wait().unwrap() {
            panic!("rank 0 ended early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    ranks[1].kill().unwrap();
    let killed = Instant::now();
    let rank0 = ranks.remove(0).wait_with_output().unwrap();
    let waited = killed.elapsed();
    assert!(
        waited < Duration::from_secs(30),
        "rank 0 took {waited:?} to fail"
    );
    assert!(!rank0.status.success(), "rank 0 went on without rank 1");
    let err = String::from_utf8_lossy(&rank0.stderr);
    assert!(err.contains("across 2 processes failed on rank 0"), "{err}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(saved["next_epoch"].as_u64().unwrap() < 4);
    let resumed = train(
        d,
        "run",
        &["--nproc", "2", "--epochs", "4", "--resume", "--json"],
    );
    let done: Value = serde_json::from_slice(&ok(&resumed).stdout).unwrap();
    assert_eq!(done["next_epoch"], 4);
    assert_eq!(done["history"].as_array().unwrap().len(), 4);
}

/// Ctrl-C in the terminal of a `--nproc 2` job (SIGINT to its process group) inside an epoch:
/// both ranks stop at the same step, rank 0 saves, the printed command (with `--nproc 2`)
/// resumes, and the run ends with the bytes of a run never stopped.
#[test]
fn ctrl_c_stops_all_ranks_and_the_printed_command_resumes_to_the_same_bytes() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    ok(&train(d, "straight", &["--nproc", "2", "--epochs", "3"]));
    let child = train_command(&d.join("sysu"), &d.join("c.toml"), &d.join("stopped"))
        .args(["--threads", "1", "--nproc", "2", "--epochs", "3"])
        .current_dir(d)
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = d.join("stopped/state.json");
    let start = Instant::now();
    while !state.exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no epoch saved");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: a signal to the job's own process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let out = ok(&child.wait_with_output().unwrap()).clone();
    let said = String::from_utf8_lossy(&out.stdout);
    let command = said
        .split("continue with: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no resume command in {said:?}"))
        .trim()
        .to_string();
    assert!(
        command.contains("--nproc 2") && command.ends_with("--resume"),
        "{command}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert!(
        saved["next_epoch"].as_u64().unwrap() < 3,
        "stopped too late to test"
    );
    // The printed command, run as a user would (its `vireid` from this build).
    let exe = Path::new(env!("CARGO_BIN_EXE_vireid"));
    let resumed = Command::new("sh")
        .arg("-c")
        .arg(command.replacen("vireid", &format!("'{}'", exe.display()), 1))
        .current_dir(std::env::current_dir().unwrap())
        .output()
        .unwrap();
    ok(&resumed);
    let (a, b) = (weights(&d.join("straight")), weights(&d.join("stopped")));
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after the resume");
    }
}
