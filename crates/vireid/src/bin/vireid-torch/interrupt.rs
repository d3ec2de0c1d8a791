//! What Ctrl-C does to a run (stop after the step, saved; twice: end at once), and the
//! command line that continues it.

use crate::train::Args;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The command that continues this run: every flag that shaped it (the saved config must
/// match), with --resume. Arguments are quoted for a POSIX shell, so the line can be pasted.
pub fn resume_command(a: &Args) -> String {
    let mut words = vec![
        "vireid".to_string(),
        "train".into(),
        "--dataset".into(),
        a.dataset.name().into(),
        "--root".into(),
        shell_quote(&a.root.display().to_string()),
    ];
    if let Some(c) = &a.config {
        words.extend(["--config".into(), shell_quote(&c.display().to_string())]);
    }
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            words.extend([name.to_string(), shell_quote(&v)]);
        }
    };
    flag("--trial", a.trial.map(|v| v.to_string()));
    flag("--epochs", a.epochs.map(|v| v.to_string()));
    flag("--backbone", a.backbone.map(|b| b.name().to_string()));
    flag("--pretrained", a.pretrained.as_ref().map(|p| p.to_string()));
    flag("--seed", a.seed.map(|v| v.to_string()));
    flag("--device", Some(a.device.clone()).filter(|d| d != "auto"));
    flag(
        "--threads",
        Some(a.threads).filter(|&t| t != 0).map(|t| t.to_string()),
    );
    flag("--nproc", a.nproc.map(|n| n.to_string()));
    if a.deterministic {
        words.push("--deterministic".into());
    }
    words.extend([
        "--out".into(),
        shell_quote(&a.out.display().to_string()),
        "--resume".into(),
    ]);
    words.join(" ")
}

/// `s` as one POSIX shell word.
fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Sets Ctrl-C to stop training after the current step, saving where it is; a second Ctrl-C
/// abandons the current step and ends the process at once. Call once per process.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\naborted; the run resumes from its last save");
            // _exit, not exit: exit runs libtorch's static destructors while its worker
            // threads are inside a backward pass, which crashes with C++ traces. Nothing
            // needs flushing: every save is a completed rename.
            // SAFETY: _exit ends the process without touching any shared state.
            unsafe { libc::_exit(130) };
        }
        eprintln!(
            "\nstopping after this step (it is saved; --resume continues); Ctrl-C again to abort"
        );
    });
    stop
}
