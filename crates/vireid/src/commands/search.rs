//! `vireid search`: rank an embedded gallery for embedded queries by the reference's fused
//! score: a table, JSON, and a page of thumbnails.

use super::{dataset_parser, print_json};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use vireid_data::{Dataset, Direction};
use vireid_eval::embeddings::{read, Embeddings};
use vireid_eval::search::top_k;
use vireid_eval::search_page::{page, ranked, Ranked};

/// Rank a gallery written by `vireid embed` for queries of the other modality (an embed
/// output too, or raw images, embedded on the spot with the gallery's checkpoint) by the
/// reference's fused similarity (1 - a) pool_q . pool_g + a bn_q . bn_g of the features as
/// embed wrote them, exact, on all cores. Prints each query's top matches (or JSON with
/// --json), and with --html writes a page of thumbnails that opens in any browser.
#[derive(clap::Args)]
pub struct Args {
    /// The gallery: an output of `vireid embed`.
    #[arg(long)]
    gallery: PathBuf,
    /// The queries: an output of `vireid embed` (a .safetensors file, usually of the other
    /// modality), or image files and folders, embedded first (`vireid embed` in a child
    /// process) with the gallery's checkpoint, size and flip, as the modality the gallery is
    /// not (see --checkpoint, --query-modality).
    #[arg(long, num_args = 1.., required = true)]
    queries: Vec<PathBuf>,
    /// With raw query images: the checkpoint to embed them with (default: the one the
    /// gallery was embedded with, from its file).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// With raw query images: the stem they go through, visible or thermal (default: the
    /// modality the gallery is not).
    #[arg(long, value_parser = ["visible", "thermal"])]
    query_modality: Option<String>,
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
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    alpha: f32,
    gallery: &'a Path,
    /// The embeddings file, or the raw inputs embedded on the spot.
    queries: &'a [PathBuf],
    results: &'a [Ranked],
}

/// Whether `paths` is one embeddings file (else: images and folders to embed).
fn is_embedding(paths: &[PathBuf]) -> bool {
    paths.len() == 1 && paths[0].extension().is_some_and(|e| e == "safetensors")
}

/// Embeds raw query images as `vireid embed` would, with the gallery's settings, in the
/// network executable (a child process: this one never loads libtorch), and reads the
/// result back.
fn embed_queries(a: &Args, gallery: &Embeddings) -> Result<Embeddings> {
    let checkpoint = match (&a.checkpoint, gallery.field("checkpoint")) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => PathBuf::from(c),
        (None, None) => bail!(
            "{} does not say which checkpoint embedded it: give --checkpoint to embed the \
             query images",
            a.gallery.display()
        ),
    };
    let modality = match (&a.query_modality, gallery.field("modality")) {
        (Some(m), _) => m.clone(),
        (None, Some("visible")) => "thermal".into(),
        (None, Some("thermal")) => "visible".into(),
        (None, other) => bail!(
            "the gallery's modality is {}: give --query-modality to embed the query images",
            other.unwrap_or("not recorded")
        ),
    };
    let exe = std::env::current_exe()?.with_file_name("vireid-torch");
    anyhow::ensure!(
        exe.is_file(),
        "embedding the query images needs {}, which is not there (build both executables)",
        exe.display()
    );
    let out =
        std::env::temp_dir().join(format!("vireid-search-{}.safetensors", std::process::id()));
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("embed")
        .args(&a.queries)
        .arg("--checkpoint")
        .arg(&checkpoint)
        .args(["--modality", &modality, "--json", "--out"])
        .arg(&out);
    for key in ["height", "width"] {
        if let Some(v) = gallery.document.get(key).and_then(|v| v.as_u64()) {
            cmd.args([format!("--{key}"), v.to_string()]);
        }
    }
    if gallery.document.get("flip") == Some(&serde_json::Value::Bool(false)) {
        cmd.arg("--no-flip");
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
            "embedding the query images failed ({status}; its message is above)"
        )),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&out);
    read_back
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
    let gallery = read(&a.gallery)?;
    let queries = if is_embedding(&a.queries) {
        anyhow::ensure!(
            a.checkpoint.is_none() && a.query_modality.is_none(),
            "--checkpoint and --query-modality are for raw query images; {} is already embedded",
            a.queries[0].display()
        );
        read(&a.queries[0])?
    } else {
        embed_queries(&a, &gallery)?
    };
    if gallery.pool.nrows() == 0 {
        bail!("{}: the gallery holds no images", a.gallery.display());
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
    let hits = top_k(queries.features(), gallery.features(), alpha, a.top)
        .with_context(|| format!("{} against {}", a.queries[0].display(), a.gallery.display()))?;
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
