use crate::bars::Phases;
use crate::extract::parse_modality;
use crate::interrupt::stop_on_ctrl_c;
use anyhow::{Context, Result};
use std::path::PathBuf;
use vireid_data::image_io::Size;
use vireid_engine::embed::{
    chunk_dir, collect_images, embed, trained_size, EmbedOutcome, EmbedRequest,
};
use vireid_nn::Modality;

/// Features of raw images with a trained checkpoint, for search: the test transform
/// (Pillow-compatible Lanczos to the network's size, ImageNet normalisation), the mirrored
/// image added as the test protocol does, batches on all cores or the GPU. Writes one
/// safetensors file: `pool` and `bn` (N x D float32, rows in input order) and, in its
/// metadata under the key `embedding`, a JSON document: `paths`, `skipped`, the checkpoint,
/// modality, size, flip and network. In Python: `load_file("OUT")` (safetensors.numpy) and
/// `json.loads(safe_open("OUT", "np").metadata()["embedding"])["paths"]`. Finished chunks are kept in
/// OUT.partial until the end, so the same command continues an interrupted run.
#[derive(clap::Args)]
pub struct Args {
    /// Image files, and folders searched recursively for .jpg, .jpeg, .png and .bmp files
    /// (sorted by path).
    inputs: Vec<PathBuf>,
    /// A list file: one image path a line, relative to the list's folder (blank lines and
    /// lines starting with # skipped); added after the inputs.
    #[arg(long)]
    list: Option<PathBuf>,
    /// A vireid checkpoint (.safetensors) or the reference's (.t).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Which stem the images go through: visible or thermal.
    #[arg(long, value_parser = parse_modality)]
    modality: Modality,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
    /// Height images are resized to (default: the checkpoint's run folder's config.toml, else
    /// the paper's 384).
    #[arg(long)]
    height: Option<u32>,
    /// Width images are resized to (default: as --height; the paper's 192).
    #[arg(long)]
    width: Option<u32>,
    /// Leave out the mirrored image's features (the test protocol adds them).
    #[arg(long)]
    no_flip: bool,
    /// Images per forward pass (default: 64 on a GPU; 16 on the CPU, where larger batches are
    /// no faster and take more memory).
    #[arg(long, value_parser = vireid::commands::at_least_one)]
    batch: Option<usize>,
    /// Images per saved chunk (what an interrupted run keeps).
    #[arg(long, default_value_t = 512, value_parser = vireid::commands::at_least_one)]
    chunk: usize,
    /// Leave unreadable images out, listed in the output and the summary, instead of stopping
    /// with their names.
    #[arg(long)]
    skip_unreadable: bool,
    /// auto (the first GPU when libtorch sees one, else the CPU), cpu, cuda or cuda:K.
    #[arg(long, default_value = "auto")]
    device: String,
    /// libtorch intra-op threads (0: libtorch's default, one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Deterministic mode: the same features, to the bit, on any x86-64 machine with AVX2.
    #[arg(long)]
    deterministic: bool,
    /// Print a JSON summary on stdout instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    crate::process::settle(a.deterministic, a.threads, a.json);
    let device = crate::process::device(&a.device, a.json)?;
    anyhow::ensure!(
        !a.inputs.is_empty() || a.list.is_some(),
        "name images, folders or a --list file to embed"
    );
    anyhow::ensure!(
        a.checkpoint.is_file(),
        "--checkpoint {}: no such file",
        a.checkpoint.display()
    );
    vireid::commands::ensure_writable(&a.out, "--out")?;
    let size = match (a.height, a.width, trained_size(&a.checkpoint)) {
        (Some(h), Some(w), _) => Size::new(h, w),
        (h, w, Some(t)) => Size::new(h.unwrap_or(t.height), w.unwrap_or(t.width)),
        (h, w, None) => Size::new(h.unwrap_or(384), w.unwrap_or(192)),
    };
    anyhow::ensure!(
        size.height >= 1 && size.width >= 1 && size.height <= 4096 && size.width <= 4096,
        "--height and --width must be 1 to 4096 pixels"
    );
    let images = collect_images(&a.inputs, a.list.as_deref())?;
    let request = EmbedRequest {
        checkpoint: &a.checkpoint,
        modality: a.modality,
        images: &images,
        size,
        flip: !a.no_flip,
        batch: a.batch.unwrap_or(if device.is_cuda() { 64 } else { 16 }),
        device,
        out: &a.out,
        skip_unreadable: a.skip_unreadable,
        chunk: a.chunk,
    };
    let stop = stop_on_ctrl_c();
    let progress = Phases { quiet: a.json };
    let outcome = embed(&request, &stop, &progress)
        .with_context(|| format!("embedding into {}", a.out.display()))?;
    match outcome {
        EmbedOutcome::Stopped { done, total } => {
            println!(
                "stopped after {done} of {total} images (saved in {}); the same command continues",
                chunk_dir(&a.out).display()
            );
            Ok(())
        }
        EmbedOutcome::Finished(e) => {
            if a.json {
                return vireid::commands::print_json(&e);
            }
            for u in &e.skipped {
                eprintln!("skipped {}: {}", u.path.display(), u.why);
            }
            println!(
                "{} images -> {} x {} features ({}, {}x{}, flip {}) in {:.2} s ({:.1} images/s{}); wrote {}",
                e.images,
                e.images,
                e.dim,
                e.network.depth.name(),
                size.height,
                size.width,
                if a.no_flip { "off" } else { "on" },
                e.seconds,
                e.images_per_second,
                if e.chunks_reused > 0 {
                    format!(", {} chunk(s) from an earlier run", e.chunks_reused)
                } else {
                    String::new()
                },
                e.out.display()
            );
            if !e.skipped.is_empty() {
                println!("{} unreadable image(s) left out", e.skipped.len());
            }
            Ok(())
        }
    }
}
