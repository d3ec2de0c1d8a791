use super::{print_json, DatasetArg};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use vireid_augment::{
    augment_one, image_rng, ChannelExchange, Erasing, Mrle, Preset, Rrle, Scratch, SourceImage,
};
use vireid_data::image_io::load_resized;
use vireid_data::Size;

/// Show what the training augmentation does to an image: a PNG grid with the original beside
/// N augmented views (first row: the dataset's whole pipeline), then one row per individual
/// transform, each forced on, so that a person can see what each does.
#[derive(clap::Args)]
pub struct Args {
    /// Whose pipeline: sysu, or regdb / llcm (which add random grayscale).
    #[arg(long, value_enum)]
    dataset: DatasetArg,
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

const GAP: usize = 4;

/// The rows of the grid: a name and the preset that shows it.
fn rows(full: Preset) -> Vec<(&'static str, Preset)> {
    let plain = full.plain();
    let no_geometry = Preset {
        flip_p: 0.0,
        pad: 0,
        ..plain
    };
    let r = full
        .rrle
        .unwrap_or(Preset::sysu().rrle.expect("sysu has RRLE"));
    let e = full
        .erasing
        .unwrap_or(Preset::sysu().erasing.expect("sysu has erasing"));
    let m = full.mrle.unwrap_or(Mrle { p: 1.0, beta: 0.3 });
    vec![
        ("pipeline", full),
        ("pad + crop + flip", plain),
        (
            "grayscale (p=1)",
            Preset {
                grayscale_p: 1.0,
                ..no_geometry
            },
        ),
        (
            "moderate RLE (p=1)",
            Preset {
                mrle: Some(Mrle { p: 1.0, ..m }),
                ..no_geometry
            },
        ),
        (
            "radical RLE (p=1)",
            Preset {
                rrle: Some(Rrle { p: 1.0, ..r }),
                ..no_geometry
            },
        ),
        (
            "random erasing (p=1)",
            Preset {
                erasing: Some(Erasing { p: 1.0, ..e }),
                ..no_geometry
            },
        ),
        (
            "channel exchange (CAJ)",
            Preset {
                channel_exchange: Some(ChannelExchange { grey_p: 0.5 }),
                ..no_geometry
            },
        ),
    ]
}

/// Views a grid row shows at most: a grid of 7 rows x 17 cells at 384 x 192 is already a
/// 3,300 x 2,700 picture.
pub const MAX_GRID_VIEWS: usize = 16;
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
    let dataset = vireid_data::Dataset::from(a.dataset).to_string();
    let full = Preset::by_name(&dataset).expect("a preset for every dataset");
    let (h, w) = (full.height, full.width);
    let pixels = load_resized(&a.input, Size::new(h as u32, w as u32))?;
    let shown = a.n.min(MAX_GRID_VIEWS);
    let Grid {
        image: grid,
        rows: described,
    } = grid(full, &pixels, shown, a.seed)?;
    let rows = rows(full);
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

/// The random stream of view `view` of grid row `row`: the dump's views are the pipeline
/// row's, drawn the same way.
fn view_rng(seed: u64, row: usize, view: usize) -> rand_chacha::ChaCha8Rng {
    image_rng(seed ^ ((row as u64) << 32), view as u64)
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
    let tmp = vireid_data::cache::temp_path(path);
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

/// An augmentation grid: the picture and what each view decided.
pub struct Grid {
    pub image: image::RgbImage,
    pub rows: Vec<serde_json::Value>,
}

/// The grid of `n` views a row of the image `pixels` (RGB, the preset's size): the whole
/// pipeline, then each transform forced on.
pub fn grid(full: Preset, pixels: &[u8], n: usize, seed: u64) -> Result<Grid> {
    anyhow::ensure!(
        (1..=MAX_GRID_VIEWS).contains(&n),
        "a grid row shows 1 to {MAX_GRID_VIEWS} views, not {n}"
    );
    let (h, w) = (full.height, full.width);
    let src = SourceImage {
        pixels,
        height: h,
        width: w,
    };
    let rows = rows(full);
    let (cols, cell_w, cell_h) = (n + 1, w + GAP, h + GAP);
    let mut grid = image::RgbImage::from_pixel(
        (cols * cell_w) as u32,
        (rows.len() * cell_h) as u32,
        image::Rgb([255, 255, 255]),
    );
    let mut blit = |row: usize, col: usize, rgb: &dyn Fn(usize, usize) -> [u8; 3]| {
        for y in 0..h {
            for x in 0..w {
                grid.put_pixel(
                    (col * cell_w + x) as u32,
                    (row * cell_h + y) as u32,
                    image::Rgb(rgb(y, x)),
                );
            }
        }
    };
    let mut described = Vec::new();
    let mut scratch = Scratch::default();
    let mut out = vec![0f32; full.output_len()];
    for (r, (name, preset)) in rows.iter().enumerate() {
        blit(r, 0, &|y, x| {
            let i = (y * w + x) * 3;
            [pixels[i], pixels[i + 1], pixels[i + 2]]
        });
        let mut traces = Vec::new();
        for v in 0..n {
            let mut rng = view_rng(seed, r, v);
            let trace = augment_one(preset, &src, &mut rng, &mut out, &mut scratch)?;
            let plane = h * w;
            let shown = |y: usize, x: usize| -> [u8; 3] {
                std::array::from_fn(|c| {
                    let v = out[c * plane + y * w + x] * preset.std[c] + preset.mean[c];
                    (v.clamp(0.0, 1.0) * 255.0).round() as u8
                })
            };
            blit(r, v + 1, &shown);
            traces.push(trace);
        }
        described.push(serde_json::json!({ "row": r, "name": name, "views": traces }));
    }
    Ok(Grid {
        image: grid,
        rows: described,
    })
}
