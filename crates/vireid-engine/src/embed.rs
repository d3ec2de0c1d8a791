//! Features of raw images (files, folders, list files) with a trained network, for search:
//! the test transform (Pillow-compatible Lanczos to the network's size, ImageNet
//! normalisation), flip as the test protocol uses it, batches on the device. Work is done in
//! chunks, each saved when done, so a large folder resumes where it stopped; the chunks are
//! joined at the end into one embeddings file (`vireid_eval::embeddings`: `pool` and `bn`,
//! N x D float32, and a JSON document of the image paths and the settings).
//!
//! Decoding and resizing the next batch run on all cores while the network runs this one.

use crate::error::{EngineError, Result};
use crate::evaluate::TestTransform;
use crate::progress::Progress;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::Device;
use vireid_data::atomic::write_atomic;
use vireid_data::image_io::Size;
use vireid_eval::embeddings::{decode, encode};
use vireid_nn::features::{extract_with, ExtractOptions, Geometry};
use vireid_nn::{weights, Modality, NetConfig, PartNet};

/// The file endings a folder is searched for.
pub const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "bmp"];

/// The images `inputs` name, in order: a file as it is, a folder's images (recursively,
/// sorted by path), and with `list` the lines of a list file (one path a line, relative to
/// the list's folder; blank lines and `#` comments skipped).
pub fn collect_images(inputs: &[PathBuf], list: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(input)
                .follow_links(true)
                .into_iter()
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| EngineError::Read {
                    path: e.path().unwrap_or(input).to_path_buf(),
                    source: e.into(),
                })?
                .into_iter()
                .filter(|e| e.file_type().is_file() && is_image(e.path()))
                .map(|e| e.into_path())
                .collect();
            found.sort();
            out.extend(found);
        } else if input.is_file() {
            out.push(input.clone());
        } else {
            return Err(EngineError::Embed(format!(
                "{}: no such file or folder",
                input.display()
            )));
        }
    }
    if let Some(list) = list {
        let text = std::fs::read_to_string(list).map_err(|source| EngineError::Read {
            path: list.to_path_buf(),
            source,
        })?;
        let base = list.parent().unwrap_or(Path::new(""));
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                out.push(base.join(line));
            }
        }
    }
    if out.is_empty() {
        return Err(EngineError::Embed(
            "no images to embed: the inputs hold no .jpg, .jpeg, .png or .bmp files".into(),
        ));
    }
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What to embed and how.
#[derive(Debug, Clone)]
pub struct EmbedRequest<'a> {
    /// A vireid or reference checkpoint.
    pub checkpoint: &'a Path,
    pub modality: Modality,
    pub images: &'a [PathBuf],
    /// The size images are resized to (the network's training size).
    pub size: Size,
    pub flip: bool,
    pub batch: usize,
    pub device: Device,
    /// The safetensors file to write.
    pub out: &'a Path,
    /// Leave unreadable images out (listed) instead of stopping at them.
    pub skip_unreadable: bool,
    /// Images a saved chunk.
    pub chunk: usize,
}

/// An image left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub path: PathBuf,
    pub why: String,
}

/// What an embedding run did.
#[derive(Debug, Clone, Serialize)]
pub struct Embedding {
    pub out: PathBuf,
    /// Images embedded (rows of the output).
    pub images: usize,
    pub skipped: Vec<Unreadable>,
    pub dim: usize,
    pub network: NetConfig,
    /// Chunks found done from an earlier run and reused.
    pub chunks_reused: usize,
    pub seconds: f64,
    /// Images embedded by this run a second, loading included.
    pub images_per_second: f64,
}

/// How the run ended.
#[derive(Debug)]
pub enum EmbedOutcome {
    Finished(Embedding),
    /// `stop` was raised: the chunks done so far are saved; the same request continues.
    Stopped {
        done: usize,
        total: usize,
    },
}

/// The settings an output (and its chunks) was made with; a chunk folder made with other
/// settings is not reused.
#[derive(Serialize)]
struct Fingerprint<'a> {
    checkpoint: &'a Path,
    checkpoint_bytes: u64,
    /// Nanoseconds since the epoch of the checkpoint's last change: new weights of the same
    /// size start afresh.
    checkpoint_modified: u128,
    modality: &'a str,
    height: u32,
    width: u32,
    flip: bool,
    chunk: usize,
    images: &'a [PathBuf],
}

/// The folder beside `out` that holds finished chunks until the output is written.
pub fn chunk_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// An error and its causes in one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// One chunk's features: the rows of its readable images, in order, and the others.
struct ChunkFeatures {
    pool: Vec<f32>,
    bn: Vec<f32>,
    paths: Vec<PathBuf>,
    unreadable: Vec<Unreadable>,
}

/// Features of a chunk's images. Each batch is decoded and resized (on all cores) while the
/// network runs the batch before it, so no image waits for a whole chunk to be decoded. An
/// unreadable image's slot is zeros and its rows are dropped afterwards; unless
/// `skip_unreadable`, the first batch that holds one ends the chunk, naming every unreadable
/// image of the chunk.
fn embed_chunk(
    net: &PartNet,
    images: &[PathBuf],
    request: &EmbedRequest<'_>,
    progress: &mut dyn FnMut(usize),
) -> Result<ChunkFeatures> {
    let size = request.size;
    let len = size.rgb_len();
    let geometry = Geometry {
        channels: 3,
        height: size.height as usize,
        width: size.width as usize,
    };
    let options = ExtractOptions {
        device: request.device,
        modality: request.modality,
        flip: request.flip,
        batch: request.batch,
    };
    // Decodes `paths` into `slots` (normalised CHW floats, one image each; zeros for an
    // unreadable one): what each failed on, by position.
    let decode = |paths: &[PathBuf], slots: &mut [f32]| -> Vec<(usize, String)> {
        slots
            .par_chunks_mut(len)
            .zip(paths.par_iter())
            .enumerate()
            .map_init(
                || TestTransform::new(size),
                |t, (k, (slot, path))| match t.apply(path, size, slot) {
                    Ok(_) => None,
                    Err(e) => {
                        slot.fill(0.0);
                        Some((k, error_chain(&e)))
                    }
                },
            )
            .flatten()
            .collect()
    };
    let unreadable = |k: usize, why: String| Unreadable {
        path: images[k].clone(),
        why,
    };
    let mut failed: Vec<Unreadable> = Vec::new();
    let mut skipped_rows: Vec<usize> = Vec::new();
    let load = |first: usize, slots: &mut [f32]| -> Result<()> {
        let n = slots.len() / len;
        for (k, why) in decode(&images[first..first + n], slots) {
            skipped_rows.push(first + k);
            failed.push(unreadable(first + k, why));
        }
        if !failed.is_empty() && !request.skip_unreadable {
            // The rest of the chunk too, a batch at a time, so that one run names all there
            // is to mend.
            let mut scratch = vec![0f32; slots.len()];
            let mut at = first + n;
            for paths in images[at..].chunks(n.max(1)) {
                let later = decode(paths, &mut scratch[..paths.len() * len]);
                failed.extend(later.into_iter().map(|(k, why)| unreadable(at + k, why)));
                at += paths.len();
            }
            return Err(EngineError::UnreadableImages(std::mem::take(&mut failed)));
        }
        Ok(())
    };
    let mut last = 0;
    let f = extract_with(net, images.len(), geometry, &options, load, |done| {
        progress(done - last);
        last = done;
    })?;
    let dim = f.dim;
    let keep: Vec<usize> = (0..images.len())
        .filter(|k| !skipped_rows.contains(k))
        .collect();
    let rows = |all: &[f32]| -> Vec<f32> {
        keep.iter()
            .flat_map(|&k| all[k * dim..(k + 1) * dim].iter().copied())
            .collect()
    };
    Ok(ChunkFeatures {
        pool: rows(&f.pool),
        bn: rows(&f.bn),
        paths: keep.iter().map(|&k| images[k].clone()).collect(),
        unreadable: failed,
    })
}

/// What a chunk file says besides its tensors.
#[derive(Serialize, Deserialize)]
struct ChunkDocument {
    paths: Vec<PathBuf>,
    skipped: Vec<Unreadable>,
    dim: usize,
}

/// A finished chunk.
struct Chunk {
    pool: Vec<f32>,
    bn: Vec<f32>,
    dim: usize,
    paths: Vec<PathBuf>,
    skipped: Vec<Unreadable>,
}

impl Chunk {
    /// The chunk's file: an embeddings file whose document lists its paths and skips.
    fn encode(&self) -> Vec<u8> {
        let doc = serde_json::to_value(ChunkDocument {
            paths: self.paths.clone(),
            skipped: self.skipped.clone(),
            dim: self.dim,
        })
        .expect("a chunk document serialises");
        encode(&self.pool, &self.bn, self.dim, &doc)
    }
}

fn read_chunk(path: &Path) -> Option<Chunk> {
    let e = decode(&std::fs::read(path).ok()?).ok()?;
    let ChunkDocument {
        paths,
        skipped,
        dim,
    } = serde_json::from_value(e.document).ok()?;
    let (pool, bn) = (
        e.pool.into_raw_vec_and_offset().0,
        e.bn.into_raw_vec_and_offset().0,
    );
    (pool.len() == paths.len() * dim && bn.len() == pool.len()).then_some(Chunk {
        pool,
        bn,
        dim,
        paths,
        skipped,
    })
}

/// Embeds `request.images` into `request.out`; see the module's description. Unreadable
/// images stop the run with their names unless `skip_unreadable`; chunks finished before
/// stay saved either way.
pub fn embed(
    request: &EmbedRequest<'_>,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<EmbedOutcome> {
    let start = Instant::now();
    let chunk = request.chunk.max(1);
    let (_vs, net, _) = weights::load_network(request.checkpoint, request.device)?;
    // Nothing trains here: one pass over each activation instead of convolution + BatchNorm
    // (+ ReLU, + residual), in oneDNN's fused kernels on the CPU.
    let net = net.fold_batch_norms(true);
    let dir = chunk_dir(request.out);
    let write = |path: &Path, source| EngineError::Write {
        path: path.to_path_buf(),
        source,
    };
    let fingerprint = {
        let file = std::fs::metadata(request.checkpoint).ok();
        let f = Fingerprint {
            checkpoint: request.checkpoint,
            checkpoint_bytes: file.as_ref().map_or(0, |m| m.len()),
            checkpoint_modified: file
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos()),
            modality: request.modality.name(),
            height: request.size.height,
            width: request.size.width,
            flip: request.flip,
            chunk,
            images: request.images,
        };
        let json = serde_json::to_vec(&f).expect("the fingerprint serialises");
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let manifest = dir.join("request.sha256");
    let same = std::fs::read_to_string(&manifest).is_ok_and(|m| m.trim() == fingerprint);
    if !same {
        if dir.exists() {
            progress.note(&format!(
                "{}: chunks of another request (other images or settings): starting afresh",
                dir.display()
            ));
            std::fs::remove_dir_all(&dir).map_err(|e| write(&dir, e))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| write(&dir, e))?;
        write_atomic(&manifest, fingerprint.as_bytes()).map_err(|e| write(&manifest, e))?;
    }
    let chunks: Vec<&[PathBuf]> = request.images.chunks(chunk).collect();
    let chunk_path = |k: usize| dir.join(format!("chunk-{k:06}.safetensors"));
    let dim = net.config.feature_dim() as usize;
    // Chunks an earlier run finished, read once; the rest are filled in as they are done.
    let mut finished: Vec<Option<Chunk>> = (0..chunks.len())
        .map(|k| read_chunk(&chunk_path(k)).filter(|c| c.dim == dim))
        .collect();
    let reused = finished.iter().flatten().count();
    let to_do: Vec<usize> = (0..chunks.len())
        .filter(|&k| finished[k].is_none())
        .collect();
    let tick = progress.phase("embed", request.images.len() as u64);
    tick.inc(
        (0..chunks.len())
            .filter(|&k| finished[k].is_some())
            .map(|k| chunks[k].len() as u64)
            .sum(),
    );
    let mut embedded_now = 0usize;
    for &k in &to_do {
        if stop.load(Ordering::SeqCst) {
            let done = (0..chunks.len())
                .filter(|&j| finished[j].is_some())
                .map(|j| chunks[j].len())
                .sum();
            return Ok(EmbedOutcome::Stopped {
                done,
                total: request.images.len(),
            });
        }
        let c = embed_chunk(&net, chunks[k], request, &mut |n| tick.inc(n as u64))?;
        embedded_now += c.paths.len();
        let chunk = Chunk {
            pool: c.pool,
            bn: c.bn,
            dim,
            paths: c.paths,
            skipped: c.unreadable,
        };
        let path = chunk_path(k);
        write_atomic(&path, &chunk.encode()).map_err(|e| write(&path, e))?;
        finished[k] = Some(chunk);
    }
    drop(tick);

    // Join the chunks.
    let (mut pool, mut bn, mut paths, mut skipped) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in finished.into_iter().flatten() {
        pool.extend(c.pool);
        bn.extend(c.bn);
        paths.extend(c.paths);
        skipped.extend(c.skipped);
    }
    let doc = serde_json::json!({
        "paths": paths,
        "skipped": skipped,
        "checkpoint": request.checkpoint,
        "modality": request.modality.name(),
        "height": request.size.height,
        "width": request.size.width,
        "flip": request.flip,
        "network": net.config,
    });
    write_atomic(request.out, &encode(&pool, &bn, dim, &doc)).map_err(|e| write(request.out, e))?;
    let _ = std::fs::remove_dir_all(&dir);
    let seconds = start.elapsed().as_secs_f64();
    Ok(EmbedOutcome::Finished(Embedding {
        out: request.out.to_path_buf(),
        images: paths.len(),
        skipped,
        dim,
        network: net.config,
        chunks_reused: reused,
        seconds,
        images_per_second: embedded_now as f64 / seconds.max(1e-9),
    }))
}

/// The size a vireid checkpoint was trained at, from the `config.toml` of its run folder
/// (none for a file outside a run folder, such as a reference `.t`).
pub fn trained_size(checkpoint: &Path) -> Option<Size> {
    let config = checkpoint.parent()?.join("config.toml");
    let table: toml::Table = std::fs::read_to_string(config).ok()?.parse().ok()?;
    let side = |k: &str| {
        table
            .get(k)?
            .as_integer()
            .and_then(|v| u32::try_from(v).ok())
    };
    Some(Size::new(side("height")?, side("width")?))
}
