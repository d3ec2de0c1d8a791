use super::{dataset_parser, print_json};
use crate::progress;
use std::path::PathBuf;
use std::time::Instant;
use vireid_data::cache::{check, prepare, CachePaths, PrepareReport};
use vireid_data::{train_set, Dataset, Size};

/// Build the training cache: every training image decoded, Lanczos-resized (as Pillow's
/// ANTIALIAS) and stored as uint8 N x H x W x 3 .npy files with int64 labels. For SYSU-MM01 at
/// 384 x 192 the files carry the reference's own names (train_rgb_resized_img192.npy, ...).
/// Running it again on unchanged inputs does nothing.
#[derive(clap::Args)]
pub struct Args {
    /// Which dataset the root holds: sysu, regdb or llcm.
    #[arg(long, value_parser = dataset_parser())]
    dataset: Dataset,
    /// The dataset's root folder.
    #[arg(long)]
    root: PathBuf,
    /// Cached image height (the paper's 384; the reference's script is bugged and uses 144
    /// for the width, not reproduced).
    #[arg(long, default_value_t = 384)]
    height: u32,
    /// Cached image width.
    #[arg(long, default_value_t = 192)]
    width: u32,
    /// RegDB only: which of the ten trials' training lists to cache (1..10).
    #[arg(long, default_value_t = 1)]
    trial: u32,
    /// Folder for the cache files (default: the dataset root, where the reference looks).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads for decoding and resizing (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Rebuild even when an up-to-date cache is present.
    #[arg(long)]
    force: bool,
    /// Decode and resize every training image but write nothing: finds corrupt or missing
    /// images, and measures decoding speed apart from the disk.
    #[arg(long)]
    check: bool,
    /// Print a JSON report (with images per second) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Report {
    #[serde(flatten)]
    inner: PrepareReport,
    /// True with --check: everything was decoded, nothing written.
    checked_only: bool,
    threads: usize,
    seconds: f64,
    images_per_second: f64,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let dataset = a.dataset;
    let size = Size::new(a.height, a.width);
    anyhow::ensure!(
        a.height >= 1 && a.width >= 1,
        "--height and --width must be positive"
    );
    let out = a.out.clone().unwrap_or_else(|| a.root.clone());
    if !a.check {
        super::ensure_writable(&out, "--out")?;
    }
    let set = train_set(dataset, &a.root, a.trial)?;
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let paths = CachePaths::new(&out, dataset, a.trial, size);
    if a.force && paths.manifest.exists() {
        std::fs::remove_file(&paths.manifest)?;
    }
    let total = set.visible.len() + set.thermal.len();
    let pb = progress::bar(total as u64, "prepare", a.json);
    let pool = progress::pool(a.threads)?;
    let start = Instant::now();
    let tick = |n: usize| pb.inc(n as u64);
    let report = pool.install(|| {
        if a.check {
            check(&a.root, &set, size, &tick).map(|()| PrepareReport::new(&set, dataset, size))
        } else {
            prepare(&a.root, &set, dataset, &paths, size, &tick)
        }
    });
    pb.finish_and_clear();
    let inner = report?;
    let seconds = start.elapsed().as_secs_f64();
    let report = Report {
        checked_only: a.check,
        threads: pool.current_num_threads(),
        seconds,
        images_per_second: if inner.up_to_date {
            0.0
        } else {
            total as f64 / seconds.max(1e-9)
        },
        inner,
    };
    if a.json {
        return print_json(&report);
    }
    let r = &report.inner;
    if a.check {
        println!(
            "decoded and resized all {} visible and {} thermal images at {} in {:.1} s ({:.0} images/s, {} threads); nothing written",
            r.visible, r.thermal, size, report.seconds, report.images_per_second, report.threads
        );
    } else if r.up_to_date {
        println!(
            "cache up to date ({} visible, {} thermal images at {}); nothing to do",
            r.visible, r.thermal, size
        );
    } else {
        println!(
            "cached {} visible and {} thermal images ({} classes) at {} in {:.1} s ({:.0} images/s, {} threads)",
            r.visible, r.thermal, r.classes, size, report.seconds, report.images_per_second, report.threads
        );
    }
    for f in &r.files {
        println!("  {}", f.display());
    }
    Ok(())
}
