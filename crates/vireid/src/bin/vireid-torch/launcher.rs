//! `vireid train --nproc N`: a one-machine job without torchrun. This process starts N copies
//! of itself with the environment torchrun would give them (RANK, WORLD_SIZE, LOCAL_RANK,
//! MASTER_ADDR=127.0.0.1, a free MASTER_PORT), waits for all, and fails as soon as one fails
//! (the others are given a moment to fail on their own, then ended).

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::process::Child;
use std::time::{Duration, Instant};
use vireid_dist::spawn_local;

/// How long the others may take to notice a failed rank before they are killed.
const GRACE: Duration = Duration::from_secs(20);

pub fn run(nproc: usize) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this executable to start the ranks")?;
    let args = args_without_nproc(std::env::args_os().skip(1));
    // Ctrl-C reaches every rank (one process group); each saves and stops on its own, and
    // this process waits for them instead of dying first.
    let _ = ctrlc::set_handler(|| {});
    let mut children: Vec<Option<Child>> = spawn_local(&exe, &args, nproc, &[], |_| {})
        .context("cannot start the ranks")?
        .into_iter()
        .map(Some)
        .collect();
    let mut failed: Option<(usize, std::process::ExitStatus, Instant)> = None;
    loop {
        for (rank, slot) in children.iter_mut().enumerate() {
            let Some(child) = slot else { continue };
            if let Some(status) = child.try_wait()? {
                *slot = None;
                if !status.success() && failed.is_none() {
                    failed = Some((rank, status, Instant::now()));
                }
            }
        }
        if children.iter().all(Option::is_none) {
            break;
        }
        if let Some((_, _, at)) = failed {
            if at.elapsed() > GRACE {
                for child in children.iter_mut().flatten() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some((rank, status, _)) = failed {
        bail!("rank {rank} of {nproc} failed ({status}); the run resumes from its last save with --resume");
    }
    Ok(())
}

/// The command line minus `--nproc N` / `--nproc=N`.
fn args_without_nproc(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        if arg == "--nproc" {
            skip_next = true;
        } else if !arg.to_string_lossy().starts_with("--nproc=") {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::args_without_nproc;

    #[test]
    fn nproc_is_taken_out_in_both_spellings() {
        let args = ["train", "--nproc", "2", "--out", "r", "--nproc=3", "--json"];
        let got = args_without_nproc(args.iter().map(Into::into));
        assert_eq!(got, ["train", "--out", "r", "--json"]);
    }
}
