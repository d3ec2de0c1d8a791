use super::{dataset_parser, print_json};
use crate::progress;
use std::path::PathBuf;
use vireid_data::synth::{generate, SynthConfig};
use vireid_data::{Dataset, Size};

/// Generate a synthetic visible-infrared dataset in a benchmark's on-disk layout.
#[derive(clap::Args)]
pub struct Args {
    /// Which layout to write: sysu, regdb or llcm.
    #[arg(long, value_parser = dataset_parser())]
    dataset: Dataset,
    /// Folder to write the dataset into: new or empty (the dataset is written beside it and
    /// renamed into place when complete).
    #[arg(long)]
    out: PathBuf,
    /// Replace the dataset a previous `vireid synth` wrote in --out (a folder holding
    /// anything else is never replaced).
    #[arg(long)]
    replace: bool,
    /// Number of identities (default 48; RegDB 40).
    #[arg(long)]
    ids: Option<usize>,
    /// People held out for the test (SYSU-MM01, LLCM; default a third, LLCM two fifths);
    /// not for RegDB, which splits half and half in every trial.
    #[arg(long)]
    test_ids: Option<usize>,
    /// Seed of every random choice; the same seed writes the same files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Height of the stored images in pixels (cameras vary around it).
    #[arg(long, default_value_t = 128)]
    height: u32,
    /// Width of the stored images in pixels (cameras vary around it).
    #[arg(long, default_value_t = 64)]
    width: u32,
    /// Fewest images of a person in one camera (RegDB: always 10 per modality).
    #[arg(long, default_value_t = 2)]
    min_images: usize,
    /// Most images of a person in one camera.
    #[arg(long, default_value_t = 12)]
    max_images: usize,
    /// Sensor noise (standard deviation, intensity in [0, 1]).
    #[arg(long, default_value_t = 0.03)]
    noise: f32,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    super::ensure_writable(&a.out, "--out")?;
    let mut cfg = SynthConfig::new(a.dataset);
    if let Some(ids) = a.ids {
        cfg.ids = ids;
    }
    cfg.seed = a.seed;
    cfg.test_ids = a.test_ids;
    cfg.size = Size::new(a.height, a.width);
    cfg.images_per_camera = (a.min_images, a.max_images);
    cfg.noise = a.noise;
    cfg.replace = a.replace;
    let pb = progress::bar(0, "synth", a.json);
    let report = progress::pool(a.threads)?.install(|| {
        generate(&a.out, &cfg, &|n, total| {
            pb.set_length(total as u64);
            pb.inc(n as u64)
        })
    });
    pb.finish_and_clear();
    let report = report?;
    if a.json {
        return print_json(&report);
    }
    println!(
        "wrote a synthetic {} dataset to {}: {} ids ({} train, {} test), {} visible and {} infrared images",
        report.dataset,
        report.root.display(),
        report.ids,
        report.train_ids,
        report.test_ids,
        report.visible_images,
        report.infrared_images
    );
    Ok(())
}
