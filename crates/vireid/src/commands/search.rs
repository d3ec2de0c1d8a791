//! `vireid search`: rank an embedded gallery for embedded queries by the reference's fused
//! score: a table, JSON, and a page of thumbnails.

use super::{dataset_parser, print_json};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;
use std::path::{Path, PathBuf};
use vireid_data::{Dataset, Direction};
use vireid_eval::embeddings::{read, Embeddings};
use vireid_eval::search::{top_k, FeaturePair};

/// Rank a gallery for queries of the other modality, both written by `vireid embed`, by the
/// reference's fused similarity (1 - a) pool_q . pool_g + a bn_q . bn_g of the L2-normalised
/// features, exact, on all cores. Prints each query's top matches (or JSON with --json), and
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

/// One ranked match.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub rank: usize,
    pub path: PathBuf,
    pub score: f32,
    /// Known only with --ids-from-folders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_person: Option<bool>,
}

/// One query and its matches.
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub query: PathBuf,
    pub matches: Vec<Match>,
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

fn pair(e: &Embeddings) -> FeaturePair<'_> {
    FeaturePair {
        pool: e.pool.view(),
        bn: e.bn.view(),
    }
}

fn person(path: &Path) -> Option<String> {
    Some(path.parent()?.file_name()?.to_string_lossy().into_owned())
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
    let hits = top_k(pair(&queries), pair(&gallery), alpha, a.top)
        .with_context(|| format!("{} against {}", a.queries.display(), a.gallery.display()))?;
    let (qpaths, gpaths) = (queries.paths(), gallery.paths());
    let results: Vec<Ranked> = qpaths
        .iter()
        .zip(hits)
        .map(|(q, hits)| Ranked {
            query: q.clone(),
            matches: hits
                .iter()
                .enumerate()
                .map(|(i, h)| Match {
                    rank: i + 1,
                    path: gpaths[h.index].clone(),
                    score: h.score,
                    same_person: a
                        .ids_from_folders
                        .then(|| person(q).is_some() && person(q) == person(&gpaths[h.index])),
                })
                .collect(),
        })
        .collect();
    if let Some(h) = &a.html {
        let page = html_page(&results, alpha)?;
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

/// Thumbnail height in the page.
const THUMB_HEIGHT: u32 = 128;

/// An image as a JPEG data URI `THUMB_HEIGHT` high, or a note when it cannot be read.
fn thumbnail(path: &Path) -> std::result::Result<String, String> {
    let img = vireid_data::image_io::decode(path).map_err(|e| e.to_string())?;
    let h = THUMB_HEIGHT;
    let w = ((img.width() as f64 * h as f64 / img.height().max(1) as f64).round() as u32).max(1);
    let small = img
        .resize_exact(w, h, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&small)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page: a row a query (its image, then its ranked matches with scores; a green frame
/// for the same person, red for another, none when unknown). The ranking is also in the
/// page as JSON (`<script id="ranking" type="application/json">`), for tools.
fn html_page(results: &[Ranked], alpha: f32) -> Result<String> {
    use rayon::prelude::*;
    let mut paths: Vec<&Path> = results
        .iter()
        .flat_map(|r| {
            std::iter::once(r.query.as_path()).chain(r.matches.iter().map(|m| m.path.as_path()))
        })
        .collect();
    paths.sort();
    paths.dedup();
    let thumbs: std::collections::HashMap<&Path, std::result::Result<String, String>> =
        paths.par_iter().map(|p| (*p, thumbnail(p))).collect();
    let img = |p: &Path, class: &str, caption: &str| -> String {
        let title = escape(&p.display().to_string());
        match &thumbs[p] {
            Ok(uri) => format!(
                "<figure class=\"{class}\"><img src=\"{uri}\" alt=\"{title}\" title=\"{title}\"><figcaption>{caption}</figcaption></figure>"
            ),
            Err(why) => format!(
                "<figure class=\"{class}\"><div class=\"missing\" title=\"{title}\">{}</div><figcaption>{caption}</figcaption></figure>",
                escape(why)
            ),
        }
    };
    let mut rows = String::new();
    for r in results {
        rows.push_str("<section class=\"query\">");
        rows.push_str(&img(&r.query, "q", "query"));
        for m in &r.matches {
            let class = match m.same_person {
                Some(true) => "hit same",
                Some(false) => "hit other",
                None => "hit",
            };
            rows.push_str(&img(&m.path, class, &format!("{}. {:.3}", m.rank, m.score)));
        }
        rows.push_str("</section>\n");
    }
    let json = serde_json::to_string(results)?.replace("</", "<\\/");
    Ok(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vireid search</title>
<style>
body {{ font: 14px sans-serif; margin: 1em; }}
section.query {{ display: flex; gap: 6px; align-items: flex-start; margin-bottom: 12px; }}
figure {{ margin: 0; text-align: center; }}
figure img, .missing {{ height: {THUMB_HEIGHT}px; border: 3px solid transparent; }}
.missing {{ width: 64px; font-size: 10px; overflow: hidden; background: #eee; }}
figure.q img {{ border-color: #333; }}
figure.same img {{ border-color: #2a2; }}
figure.other img {{ border-color: #c22; }}
figcaption {{ font-size: 12px; }}
</style></head><body>
<h1>vireid search</h1>
<p>{n} queries; matches ranked by the fused score with a = {alpha} (green frame: the same
person, red: another, none: unknown).</p>
{rows}<script id="ranking" type="application/json">{json}</script>
</body></html>
"#,
        n = results.len()
    ))
}
