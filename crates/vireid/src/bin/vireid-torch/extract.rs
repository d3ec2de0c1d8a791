use anyhow::{Context, Result};
use ndarray::Array2;
use std::path::PathBuf;
use vireid::npy::read_matrix4;
use vireid_nn::features::{extract, ExtractOptions, Geometry};
use vireid_nn::{weights, Modality};

/// Evaluation features of a batch that is already normalised (float32 N x 3 x H x W), as the
/// reference's evaluation forward gives them: DIR/pool.npy and DIR/bn.npy, N x 4*width.
/// The architecture (backbone depth, with or without layer4, classes) is read from the
/// checkpoint's shapes.
#[derive(clap::Args)]
pub struct Args {
    /// A reference `.t` checkpoint or a vireid `.safetensors` checkpoint.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Which stem the images go through: visible or thermal.
    #[arg(long, value_parser = parse_modality)]
    modality: Modality,
    /// float32 .npy of shape N x 3 x H x W, normalised as the test transform does.
    #[arg(long)]
    input: PathBuf,
    /// Output folder for pool.npy and bn.npy (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Add the features of the horizontally flipped images (the reference's test script).
    #[arg(long)]
    flip: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = vireid::commands::at_least_one)]
    batch: usize,
    /// auto (the first GPU when libtorch sees one, else the CPU), cpu, cuda or cuda:K.
    #[arg(long, default_value = "auto")]
    device: String,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Deterministic mode: the same features, to the bit, on any x86-64 machine with AVX2
    /// (kernels pinned to AVX2, 2 threads).
    #[arg(long)]
    deterministic: bool,
    /// Print a JSON summary on stdout instead of a sentence.
    #[arg(long)]
    json: bool,
}

pub fn parse_modality(s: &str) -> Result<Modality, String> {
    Modality::by_name(s)
        .ok_or_else(|| format!("unknown modality {s:?}: expected visible or thermal"))
}

pub fn run(a: Args) -> Result<()> {
    crate::process::settle(a.deterministic, a.threads, a.json);
    let device = crate::process::device(&a.device, a.json)?;
    vireid::commands::ensure_writable(&a.out, "--out")?;
    let input = read_matrix4(&a.input)?;
    if let Some((at, v)) = input.indexed_iter().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!(
            "{}: the batch holds {v} at {at:?}; a normalised image batch is finite",
            a.input.display()
        );
    }
    let (n, c, h, w) = input.dim();
    let (_vs, net, _ignored) = weights::load_network(&a.checkpoint, device)?;
    let geometry = Geometry {
        channels: c,
        height: h,
        width: w,
    };
    let flat = input
        .as_slice()
        .context("the input array is not in standard (C) order")?;
    let options = ExtractOptions {
        device,
        modality: a.modality,
        flip: a.flip,
        batch: a.batch,
    };
    let start = std::time::Instant::now();
    let pb = vireid::progress::bar(n as u64, "extract", a.json);
    let features = extract(&net, flat, geometry, &options, |done| {
        pb.set_position(done as u64)
    });
    pb.finish_and_clear();
    let features = features.with_context(|| format!("{}", a.input.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let dim = features.dim;
    for (name, data) in [("pool", features.pool), ("bn", features.bn)] {
        let path = a.out.join(format!("{name}.npy"));
        let array = Array2::from_shape_vec((n, dim), data)?;
        vireid::npy::write_atomic(&path, &array)?;
    }
    let config = net.config;
    if a.json {
        return vireid::commands::print_json(&serde_json::json!({
            "images": n,
            "dim": dim,
            "flip": a.flip,
            "network": config,
            "seconds": seconds,
            "images_per_second": n as f64 / seconds.max(1e-9),
            "pool": a.out.join("pool.npy"),
            "bn": a.out.join("bn.npy"),
        }));
    }
    println!(
        "{n} images -> {} x {dim} features ({}, {}, {} ids) in {seconds:.2} s ({:.1} images/s); wrote {}/pool.npy and bn.npy",
        n,
        config.depth.name(),
        if config.layer4 { "layer4" } else { "no layer4" },
        config.classes,
        n as f64 / seconds.max(1e-9),
        a.out.display()
    );
    Ok(())
}
