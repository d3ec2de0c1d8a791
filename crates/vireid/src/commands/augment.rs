use super::{dataset_parser, print_json};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use vireid_augment::grid::{grid, rows, view_rng, Grid, MAX_GRID_VIEWS};
use vireid_augment::{augment_one, Preset, Scratch, SourceImage};
use vireid_data::image_io::load_resized;
use vireid_data::{Dataset, Size};

/// Show what the training augmentation does to an image: a PNG grid with the original beside
/// N augmented views (first row: the dataset's whole pipeline), then one row per individual
/// transform, each forced on, so that a person can see what each does.
#[derive(clap::Args)]
pub struct Args {
    /// Whose pipeline: sysu, or regdb / llcm (which add random grayscale).
    #[arg(long, value_parser = dataset_parser())]
    dataset: Dataset,
    /// The image (JPEG, PNG or BMP); it is first resized to 384 x 192 as the cache is.
    #[arg(long)]
    input: PathBuf,
    /// Augmented views: the grid shows up to 16 a row (the first 16 when more), --dump holds
    /// all of them (at most 10000).
    #[arg(long, default_value_t = 8)]
    n: usize,
    /// Seed of every random draw; the same seed draws the same grid.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG grid to write.
    #[arg(long)]
    out: PathBuf,
    /// Also write the N pipeline views exactly as the network receives them: float32
    /// N x 3 x 384 x 192, normalised.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Print a JSON description (rows, what each decided) instead of text.
    #[arg(long)]
    json: bool,
}

/// Views --dump writes at most: 10,000 views at 384 x 192 are 8.8 GB of float32.
const MAX_DUMP_VIEWS: usize = 10_000;

pub fn run(a: Args) -> Result<()> {
    anyhow::ensure!(
        (1..=MAX_DUMP_VIEWS).contains(&a.n),
        "--n must be 1 to {MAX_DUMP_VIEWS}, got {}",
        a.n
    );
    anyhow::ensure!(
        a.n <= MAX_GRID_VIEWS || a.dump.is_some(),
        "--n {} asks for more views than a grid row shows ({MAX_GRID_VIEWS}); more are only \
         useful with --dump",
        a.n
    );
    super::ensure_writable(&a.out, "--out")?;
    if let Some(d) = &a.dump {
        super::ensure_writable(d, "--dump")?;
    }
    let full = Preset::of(a.dataset);
    let (h, w) = (full.height, full.width);
    let pixels = load_resized(&a.input, Size::new(h as u32, w as u32))?;
    let shown = a.n.min(MAX_GRID_VIEWS);
    let Grid {
        width,
        height,
        rgb,
        rows: described,
    } = grid(full, &pixels, shown, a.seed)?;
    let rows = rows(full);
    let grid = image::RgbImage::from_raw(width, height, rgb).expect("width x height x 3 bytes");
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    grid.save(&a.out)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    if let Some(path) = &a.dump {
        write_dump(full, &pixels, a.n, a.seed, path)?;
    }
    if a.json {
        return print_json(
            &serde_json::json!({ "grid": a.out, "dump": a.dump, "rows": described }),
        );
    }
    println!(
        "wrote {} ({} rows of the original and {shown} views):",
        a.out.display(),
        rows.len(),
    );
    for (r, (name, _)) in rows.iter().enumerate() {
        println!("  row {}: {name}", r + 1);
    }
    if let Some(d) = &a.dump {
        println!(
            "wrote {} (float32 {} x 3 x {h} x {w}, normalised, the pipeline row)",
            d.display(),
            a.n
        );
    }
    Ok(())
}

/// Writes `n` pipeline views as one float32 `n x 3 x H x W` .npy, one view in memory at a
/// time, through a temporary file renamed into place (a failed or killed run leaves no
/// partial dump under the name).
fn write_dump(full: Preset, pixels: &[u8], n: usize, seed: u64, path: &Path) -> Result<()> {
    use ndarray_npy::npy::header::{Header, Layout};
    use std::io::Write;
    let (h, w) = (full.height, full.width);
    let src = SourceImage {
        pixels,
        height: h,
        width: w,
    };
    let tmp = vireid_data::atomic::temp_path(path);
    let write = || -> Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        Header {
            type_descriptor: py_literal::Value::String("<f4".into()),
            layout: Layout::Standard,
            shape: vec![n, 3, h, w],
        }
        .write(&mut out)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut scratch = Scratch::default();
        let mut view = vec![0f32; full.output_len()];
        let mut bytes = Vec::with_capacity(view.len() * 4);
        for v in 0..n {
            augment_one(
                &full,
                &src,
                &mut view_rng(seed, 0, v),
                &mut view,
                &mut scratch,
            )?;
            bytes.clear();
            bytes.extend(view.iter().flat_map(|x| x.to_le_bytes()));
            out.write_all(&bytes)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.context(format!("cannot write {}", path.display()))
    })
}
