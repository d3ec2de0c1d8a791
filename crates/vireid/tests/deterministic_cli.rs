//! The deterministic mode catches a machine dependence on one machine: the same short training
//! run gives byte-identical weights whatever instruction-set caps the environment sets and
//! whatever `--threads` asks for, and equals what libtorch computes when capped at AVX2 (what
//! an AVX2 machine without AVX-512 runs). Without the mode, the weights change with the thread
//! count, and on a machine with AVX-512 with the caps.

mod common;

use common::synth;
use std::path::Path;

/// The caps of an x86-64 machine with AVX2 and nothing wider.
const AVX2_MACHINE: [(&str, &str); 4] = [
    ("ATEN_CPU_CAPABILITY", "avx2"),
    ("ONEDNN_MAX_CPU_ISA", "AVX2"),
    ("MKL_CBWR", "AVX2,STRICT"),
    ("MKL_DYNAMIC", "FALSE"),
];

/// The final weights (bytes) of one epoch of the small config trained into `out`.
fn weights(
    root: &Path,
    config: &Path,
    out: &Path,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Vec<u8> {
    let mut cmd = common::train_command(root, config, out);
    cmd.args(["--epochs", "1"]).args(extra);
    // Caps from the machine running the tests must not leak in.
    for (k, _) in AVX2_MACHINE {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out.join("last.safetensors")).unwrap()
}

fn has_avx512() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|t| t.contains(" avx512f"))
}

#[test]
fn deterministic_runs_are_the_same_bytes_under_any_caps_and_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("sysu");
    synth("sysu", &root, 9, 3);
    let config = d.join("c.toml");
    let small = common::SMALL_TRAINING.replace("eval_every = 1", "eval_every = 0");
    std::fs::write(&config, small).unwrap();
    let det = |name: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["--deterministic"];
        args.extend(extra);
        weights(&root, &config, &d.join(name), env, &args)
    };
    let reference = det("det", &[], &[]);
    // Other caps in the environment and another thread count: overridden by the mode.
    let other_caps = [
        ("ATEN_CPU_CAPABILITY", "default"),
        ("ONEDNN_MAX_CPU_ISA", "SSE41"),
        ("MKL_CBWR", "COMPATIBLE"),
    ];
    assert!(
        det("det-caps-t1", &other_caps, &["--threads", "1"]) == reference,
        "the deterministic mode changed with the environment's caps and --threads 1"
    );
    // What an AVX2 machine computes at the mode's thread count, without the mode.
    let avx2 = weights(
        &root,
        &config,
        &d.join("avx2"),
        &AVX2_MACHINE,
        &["--threads", "2"],
    );
    assert!(
        avx2 == reference,
        "the mode is not what libtorch computes capped at AVX2"
    );
    // Without the mode the thread count shows in the bytes: the test can see a dependence.
    let one = weights(
        &root,
        &config,
        &d.join("t1"),
        &AVX2_MACHINE,
        &["--threads", "1"],
    );
    assert!(
        one != avx2,
        "1 and 2 threads gave the same bytes: the test cannot tell"
    );
    if has_avx512() {
        let native = weights(&root, &config, &d.join("native"), &[], &["--threads", "2"]);
        assert!(
            native != reference,
            "this AVX-512 machine's native kernels gave the AVX2 bytes"
        );
    } else {
        eprintln!("no AVX-512 here: the native-versus-AVX2 difference is not checked");
    }
}
