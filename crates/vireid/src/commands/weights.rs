//! `vireid weights`: the ImageNet weights training starts from, listed, fetched and verified.

use super::print_json;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use vireid_hub::{verify_name, Hub, KnownWeights, Verdict};

/// The ImageNet weights `vireid train` starts from by default (`--pretrained imagenet`):
/// torchvision's files, looked up in torch's cache ($TORCH_HOME/hub/checkpoints, by default
/// ~/.cache/torch/hub/checkpoints) and then vireid's (~/.cache/vireid/weights), else
/// downloaded from torchvision's address (or $VIREID_WEIGHTS_URL) into vireid's cache, kept
/// only when their sha256 starts with the hash in their name.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Every known file: backbone, whether the paper uses it, where it is on this machine.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download the paper's file of each backbone named (default resnet50), unless one of
    /// its known files is already here.
    Fetch {
        /// resnet18, resnet34, resnet50, or a file name from `vireid weights list`.
        #[arg(default_value = "resnet50")]
        which: Vec<String>,
        /// Download even when a file is already here (a fresh copy replaces vireid's).
        #[arg(long)]
        force: bool,
        /// Print JSON (the files and where they are) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Check files against the sha256 prefix in their names (default: every known file
    /// found here). Exits non-zero when one does not match.
    Verify {
        /// Files to check.
        files: Vec<PathBuf>,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(a: Args) -> Result<()> {
    let hub = Hub::from_env();
    match a.action {
        Action::List { json } => list(&hub, json),
        Action::Fetch { which, force, json } => fetch(&hub, &which, force, json),
        Action::Verify { files, json } => verify(&hub, files, json),
    }
}

#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    weights: &'a KnownWeights,
    url: String,
    path: Option<PathBuf>,
}

fn list(hub: &Hub, json: bool) -> Result<()> {
    let rows: Vec<Listed> = hub
        .catalog
        .iter()
        .map(|w| Listed {
            weights: w,
            url: hub.url(w),
            path: hub.find(w),
        })
        .collect();
    if json {
        return print_json(&rows);
    }
    println!("{:<9} {:<22} {:<5} where", "backbone", "file", "paper");
    for r in &rows {
        println!(
            "{:<9} {:<22} {:<5} {}",
            r.weights.backbone,
            r.weights.file,
            if r.weights.paper { "yes" } else { "" },
            r.path
                .as_ref()
                .map_or("not here".to_string(), |p| p.display().to_string())
        );
    }
    println!("looked in: {}", hub.places.describe());
    println!("downloads from: {}", hub.base_url);
    Ok(())
}

/// The known file `which` names: a backbone's paper file, or a file by name.
fn pick<'h>(hub: &'h Hub, which: &str) -> Result<&'h KnownWeights> {
    if let Some(w) = hub.catalog.iter().find(|w| w.file == which) {
        return Ok(w);
    }
    Ok(hub.known(which).map_err(|_| {
        anyhow::anyhow!(
            "{which:?} is neither a backbone (resnet18, resnet34, resnet50) nor a known file \
             (vireid weights list)"
        )
    })?[0])
}

fn fetch(hub: &Hub, which: &[String], force: bool, json: bool) -> Result<()> {
    let mut done = Vec::new();
    for name in which {
        let w = pick(hub, name)?;
        let here = if force || w.file == *name {
            hub.find(w)
        } else {
            hub.locate(&w.backbone)?.map(|f| f.path)
        };
        let path = match here {
            Some(p) if !force => {
                if !json {
                    println!("{}: already here, {}", w.backbone, p.display());
                }
                p
            }
            _ => {
                let bar = bytes_bar(&w.file, json);
                let path = hub.fetch(w, &mut |n, total| {
                    if let Some(t) = total {
                        bar.set_length(t);
                    }
                    bar.inc(n);
                })?;
                bar.finish_and_clear();
                if !json {
                    println!(
                        "{}: downloaded and verified, {}",
                        w.backbone,
                        path.display()
                    );
                }
                path
            }
        };
        done.push(serde_json::json!({ "file": w.file, "path": path }));
    }
    if json {
        print_json(&done)?;
    }
    Ok(())
}

fn bytes_bar(file: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(file.to_string());
    pb
}

fn verify(hub: &Hub, files: Vec<PathBuf>, json: bool) -> Result<()> {
    let files = if files.is_empty() {
        let found: Vec<PathBuf> = hub.catalog.iter().filter_map(|w| hub.find(w)).collect();
        if found.is_empty() {
            bail!(
                "no known weights file is here to verify (looked in {}); name files to check",
                hub.places.describe()
            );
        }
        found
    } else {
        files
    };
    let mut bad = 0;
    let mut out = Vec::new();
    for f in files {
        let verdict = verify_name(&f)?;
        let line = match &verdict {
            Verdict::Verified { .. } => "verified".to_string(),
            Verdict::Mismatch { expected, sha256 } => {
                bad += 1;
                format!("MISMATCH: sha256 {sha256} does not start with {expected} (damaged or not the file its name says)")
            }
            Verdict::NoHashInName { sha256 } => {
                format!("no hash in the name to check; sha256 {sha256}")
            }
        };
        if !json {
            println!("{}: {line}", f.display());
        }
        out.push(serde_json::json!({ "path": f, "check": verdict }));
    }
    if json {
        print_json(&out)?;
    }
    if bad > 0 {
        bail!("{bad} file(s) do not match the hash in their name");
    }
    Ok(())
}
