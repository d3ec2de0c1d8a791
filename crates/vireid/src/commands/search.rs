//! `vireid search`: rank an embedded gallery for embedded queries by the reference's fused
//! score: a table, JSON, and a page of thumbnails.

use super::{dataset_parser, print_json};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use vireid_data::{Dataset, Direction};
use vireid_eval::ann::{GalleryIndex, IndexConfig};
use vireid_eval::embeddings::{read, Embeddings};
use vireid_eval::search::top_k;
use vireid_eval::search_page::{page, ranked, Ranked};

/// Rank a gallery for queries of the other modality, each an output of `vireid embed` or raw
/// images (files and folders) embedded on the spot with the same checkpoint, by the
/// reference's fused similarity (1 - a) pool_q . pool_g + a bn_q . bn_g of the features as
/// embed wrote them, exact, on all cores. Prints each query's top matches (or JSON with
/// --json), and with --html writes a page of thumbnails that opens in any browser.
#[derive(clap::Args)]
pub struct Args {
    /// The gallery: an output of `vireid embed` (a .safetensors file), or image files and
    /// folders, embedded first (`vireid embed` in a child process; needs --checkpoint unless
    /// the queries' file names one) as --gallery-modality.
    #[arg(long, num_args = 1.., required = true)]
    gallery: Vec<PathBuf>,
    /// The queries: an output of `vireid embed` (a .safetensors file, usually of the other
    /// modality), or image files and folders, embedded first (`vireid embed` in a child
    /// process) with the gallery's checkpoint, size and flip, as the modality the gallery is
    /// not (see --checkpoint, --query-modality).
    #[arg(long, num_args = 1.., required = true)]
    queries: Vec<PathBuf>,
    /// With raw images: the checkpoint to embed them with (default: the one the other side's
    /// embeddings file names).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// With raw query images: the stem they go through, visible or thermal (default: the
    /// modality the gallery is not).
    #[arg(long, value_parser = ["visible", "thermal"])]
    query_modality: Option<String>,
    /// With raw gallery images: the stem they go through (default: the modality the
    /// queries' file is not, else visible).
    #[arg(long, value_parser = ["visible", "thermal"])]
    gallery_modality: Option<String>,
    /// The fused weight a (0: pool only, 1: bn only). Default: the reference's for --dataset
    /// and the search direction the two files' modalities give.
    #[arg(long, value_parser = super::unit_interval)]
    alpha: Option<f32>,
    /// Whose reference weight --alpha defaults to: sysu (the default), regdb or llcm.
    #[arg(long, value_parser = dataset_parser(), default_value = "sysu")]
    dataset: Dataset,
    /// Matches shown per query.
    #[arg(long, default_value_t = 10, value_parser = super::at_least_one)]
    top: usize,
    /// Mark a match as the same person when its image's folder has the name of the query's
    /// (the SYSU-MM01, RegDB and LLCM layouts keep each person in a folder of their id).
    #[arg(long)]
    ids_from_folders: bool,
    /// Write a page of thumbnails here: each query, its ranked matches with their scores,
    /// the same person marked when known. Self-contained (images inlined).
    #[arg(long)]
    html: Option<PathBuf>,
    /// exact (the default): every gallery image scored for every query. hnsw: an approximate
    /// HNSW index proposes candidates (ranked by their exact scores), for galleries too large
    /// to scan (see README, "Search at scale"); built once and kept beside an embeddings file
    /// as GALLERY.hnsw/ (rebuilt when the file changes), in memory for raw images.
    #[arg(long, default_value = "exact", value_parser = ["exact", "hnsw"])]
    index: String,
    /// With --index hnsw: candidates examined per query (more: closer to the exact search,
    /// slower).
    #[arg(long, default_value_t = 200, value_parser = super::at_least_one)]
    ef: usize,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    alpha: f32,
    /// Each side's embeddings file, or the raw inputs embedded on the spot.
    gallery: &'a [PathBuf],
    queries: &'a [PathBuf],
    results: &'a [Ranked],
}

/// Whether `paths` is one embeddings file (else: images and folders to embed).
fn is_embedding(paths: &[PathBuf]) -> bool {
    paths.len() == 1 && paths[0].extension().is_some_and(|e| e == "safetensors")
}

/// The modality a side's file is not.
fn other(e: &Embeddings) -> Option<&'static str> {
    match e.field("modality")? {
        "visible" => Some("thermal"),
        "thermal" => Some("visible"),
        _ => None,
    }
}

/// Embeds raw images as `vireid embed` would, in the network executable (a child process:
/// this one never loads libtorch), with `like`'s size and flip when given (else embed's
/// defaults: the checkpoint's trained size, flip on), and reads the result back.
fn embed_raw(
    inputs: &[PathBuf],
    checkpoint: &Path,
    modality: &str,
    like: Option<&Embeddings>,
    side: &str,
) -> Result<Embeddings> {
    let exe = std::env::current_exe()?.with_file_name("vireid-torch");
    anyhow::ensure!(
        exe.is_file(),
        "embedding the {side} images needs {}, which is not there (build both executables)",
        exe.display()
    );
    let out = std::env::temp_dir().join(format!(
        "vireid-search-{side}-{}.safetensors",
        std::process::id()
    ));
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("embed")
        .args(inputs)
        .arg("--checkpoint")
        .arg(checkpoint)
        .args(["--modality", modality, "--json", "--out"])
        .arg(&out);
    if let Some(like) = like {
        for key in ["height", "width"] {
            if let Some(v) = like.document.get(key).and_then(|v| v.as_u64()) {
                cmd.args([format!("--{key}"), v.to_string()]);
            }
        }
        if like.document.get("flip") == Some(&serde_json::Value::Bool(false)) {
            cmd.arg("--no-flip");
        }
    }
    // As `vireid` does when it hands a command over (see main.rs): waiting threads sleep.
    if std::env::var_os("OMP_WAIT_POLICY").is_none() {
        cmd.env("OMP_WAIT_POLICY", "PASSIVE");
    }
    let result = cmd
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", exe.display()));
    let read_back = match result {
        Ok(status) if status.success() => read(&out).map_err(anyhow::Error::from),
        Ok(status) => Err(anyhow::anyhow!(
            "embedding the {side} images failed ({status}; its message is above)"
        )),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&out);
    read_back
}

/// The checkpoint raw images are embedded with: --checkpoint, else the one `file` names.
fn checkpoint_for(a: &Args, file: Option<(&Embeddings, &Path)>, side: &str) -> Result<PathBuf> {
    if let Some(c) = &a.checkpoint {
        return Ok(c.clone());
    }
    match file {
        Some((e, path)) => match e.field("checkpoint") {
            Some(c) => Ok(PathBuf::from(c)),
            None => bail!(
                "{} does not say which checkpoint embedded it: give --checkpoint to embed the \
                 {side} images",
                path.display()
            ),
        },
        None => bail!("both sides are raw images: give --checkpoint to embed them"),
    }
}

/// The stem raw images of `side` go through: the flag, else the modality the other side's
/// file is not, else (nothing embedded yet) visible.
fn modality_for(
    flag: &Option<String>,
    other_side: Option<&Embeddings>,
    side: &str,
) -> Result<String> {
    match (flag, other_side) {
        (Some(m), _) => Ok(m.clone()),
        (None, None) => Ok("visible".into()),
        (None, Some(e)) => other(e).map(str::to_string).ok_or_else(|| {
            anyhow::anyhow!(
                "the other side's modality is {}: give --{side}-modality",
                e.field("modality").unwrap_or("not recorded")
            )
        }),
    }
}

/// One side: read when it is an embeddings file, else embedded like `other_side` (the side
/// already loaded, with its path), or with embed's defaults when there is none.
fn load_side(
    a: &Args,
    inputs: &[PathBuf],
    modality: &Option<String>,
    side: &str,
    other_side: Option<(&Embeddings, &Path)>,
) -> Result<Embeddings> {
    if is_embedding(inputs) {
        if modality.is_some() {
            bail!(
                "--{side}-modality is for raw {side} images; {} is already embedded",
                inputs[0].display()
            );
        }
        return Ok(read(&inputs[0])?);
    }
    let checkpoint = checkpoint_for(a, other_side, side)?;
    let like = other_side.map(|o| o.0);
    let m = modality_for(modality, like, side)?;
    embed_raw(inputs, &checkpoint, &m, like, side)
}

/// Both sides' embeddings (gallery, queries): a file is read first, so that raw images on
/// the other side are embedded like it.
fn load(a: &Args) -> Result<(Embeddings, Embeddings)> {
    if is_embedding(&a.gallery) && is_embedding(&a.queries) && a.checkpoint.is_some() {
        bail!(
            "--checkpoint is for raw gallery or query images; {} is already embedded",
            a.queries[0].display()
        );
    }
    let gallery = |other: Option<(&Embeddings, &Path)>| {
        load_side(a, &a.gallery, &a.gallery_modality, "gallery", other)
    };
    let queries = |other: Option<(&Embeddings, &Path)>| {
        load_side(a, &a.queries, &a.query_modality, "query", other)
    };
    if is_embedding(&a.queries) && !is_embedding(&a.gallery) {
        let q = queries(None)?;
        let g = gallery(Some((&q, &a.queries[0])))?;
        Ok((g, q))
    } else {
        let g = gallery(None)?;
        let q = queries(Some((&g, &a.gallery[0])))?;
        Ok((g, q))
    }
}

/// The gallery's HNSW index: the one saved beside its embeddings file when it still
/// describes that file, else built (and saved there); raw images: built, kept in memory.
fn gallery_index(a: &Args, gallery: &Embeddings) -> Result<GalleryIndex> {
    let saved = is_embedding(&a.gallery).then(|| a.gallery[0].with_extension("hnsw"));
    let source = match &saved {
        Some(_) => fingerprint(&a.gallery[0])?,
        None => "raw images".to_string(),
    };
    if let Some(dir) = &saved {
        match GalleryIndex::read_meta(dir) {
            Some(meta) if meta.source == source && meta.config == IndexConfig::default() => {
                return GalleryIndex::load(dir)
                    .with_context(|| format!("reading the index {}", dir.display()));
            }
            Some(_) if !a.json => eprintln!(
                "note: {} describes another version of {}: rebuilding it",
                dir.display(),
                a.gallery[0].display()
            ),
            _ => {}
        }
    }
    let rows = gallery.pool.nrows();
    let bar = crate::progress::bar(rows as u64, "index", a.json);
    let index = GalleryIndex::build(gallery.features(), IndexConfig::default(), source, &|n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    if let Some(dir) = &saved {
        index
            .save(dir)
            .with_context(|| format!("saving the index beside {}", a.gallery[0].display()))?;
        if !a.json {
            eprintln!("note: indexed {rows} gallery images into {}", dir.display());
        }
    }
    Ok(index)
}

/// What identifies a version of a file: its name, size and modification time.
fn fingerprint(path: &Path) -> Result<String> {
    let m = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let modified = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    Ok(format!("{name}, {} bytes, modified {modified} ns", m.len()))
}

fn direction(queries: &Embeddings, gallery: &Embeddings) -> Option<Direction> {
    match (queries.field("modality")?, gallery.field("modality")?) {
        ("visible", "thermal") => Some(Direction::VisibleToInfrared),
        ("thermal", "visible") => Some(Direction::InfraredToVisible),
        _ => None,
    }
}

pub fn run(a: Args) -> Result<()> {
    if let Some(h) = &a.html {
        super::ensure_writable(h, "--html")?;
    }
    let (gallery, queries) = load(&a)?;
    if gallery.pool.nrows() == 0 {
        bail!("{}: the gallery holds no images", a.gallery[0].display());
    }
    let alpha = match a.alpha {
        Some(v) => v,
        None => match direction(&queries, &gallery) {
            Some(d) => a.dataset.fused_alpha(d),
            None => bail!(
                "the queries ({}) and the gallery ({}) are not one visible and one thermal \
                 embedding: give --alpha",
                queries.field("modality").unwrap_or("no modality"),
                gallery.field("modality").unwrap_or("no modality")
            ),
        },
    };
    let hits = match a.index.as_str() {
        "hnsw" => {
            let index = gallery_index(&a, &gallery)?;
            index.top_k(queries.features(), gallery.features(), alpha, a.top, a.ef)
        }
        _ => top_k(queries.features(), gallery.features(), alpha, a.top),
    }
    .with_context(|| {
        format!(
            "{} against {}",
            a.queries[0].display(),
            a.gallery[0].display()
        )
    })?;
    let (qpaths, gpaths) = (queries.paths(), gallery.paths());
    let results = ranked(&qpaths, &gpaths, &hits, a.ids_from_folders);
    if let Some(h) = &a.html {
        let page = page(&results, alpha);
        vireid_data::atomic::write_atomic(h, page.as_bytes())
            .with_context(|| format!("cannot write {}", h.display()))?;
    }
    if a.json {
        return print_json(&Report {
            alpha,
            gallery: &a.gallery,
            queries: &a.queries,
            results: &results,
        });
    }
    println!(
        "{} queries against {} gallery images, fused score with a = {alpha}",
        results.len(),
        gpaths.len()
    );
    for r in &results {
        println!("\n{}", r.query.display());
        for m in &r.matches {
            let mark = match m.same_person {
                Some(true) => "  same person",
                _ => "",
            };
            println!(
                "  {:>3}  {:+.4}  {}{mark}",
                m.rank,
                m.score,
                m.path.display()
            );
        }
    }
    if let Some(h) = &a.html {
        println!("\nwrote {}", h.display());
    }
    Ok(())
}
