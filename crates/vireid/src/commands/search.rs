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

/// Rank a gallery for queries of the other modality, both written by `vireid embed`, by the
/// reference's fused similarity (1 - a) pool_q . pool_g + a bn_q . bn_g of the features as
/// embed wrote them, exact, on all cores. Prints each query's top matches (or JSON with --json), and
/// with --html writes a page of thumbnails that opens in any browser.
#[derive(clap::Args)]
pub struct Args {
    /// The gallery: an output of `vireid embed`.
    #[arg(long)]
    gallery: PathBuf,
    /// The queries: an output of `vireid embed` (usually of the other modality).
    #[arg(long)]
    queries: PathBuf,
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
    queries: &'a Path,
    results: &'a [Ranked],
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
    let queries = read(&a.queries)?;
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
        .with_context(|| format!("{} against {}", a.queries.display(), a.gallery.display()))?;
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
