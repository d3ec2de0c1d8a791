//! What `vireid search` shows: each query's ranked matches (paths, scores, whether the same
//! person) and a self-contained page of thumbnails. Used by the command and by the demo's
//! report.

use crate::search::Hit;
use base64::Engine as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One ranked match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub rank: usize,
    pub path: PathBuf,
    pub score: f32,
    /// Known only with --ids-from-folders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_person: Option<bool>,
}

/// One query and its matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub query: PathBuf,
    pub matches: Vec<Match>,
}

/// The person an image shows in the benchmark layouts: the name of its folder.
fn person(path: &Path) -> Option<String> {
    Some(path.parent()?.file_name()?.to_string_lossy().into_owned())
}

/// Each query's hits as paths, ranks and scores; with `ids_from_folders`, whether each match
/// shows the query's person (its folder has the query's folder's name, as in the SYSU-MM01,
/// RegDB and LLCM layouts).
pub fn ranked(
    queries: &[PathBuf],
    gallery: &[PathBuf],
    hits: &[Vec<Hit>],
    ids_from_folders: bool,
) -> Vec<Ranked> {
    queries
        .iter()
        .zip(hits)
        .map(|(q, hits)| Ranked {
            query: q.clone(),
            matches: hits
                .iter()
                .enumerate()
                .map(|(i, h)| Match {
                    rank: i + 1,
                    path: gallery[h.index].clone(),
                    score: h.score,
                    same_person: ids_from_folders
                        .then(|| person(q).is_some() && person(q) == person(&gallery[h.index])),
                })
                .collect(),
        })
        .collect()
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
pub fn page(results: &[Ranked], alpha: f32) -> String {
    let mut paths: Vec<&Path> = results
        .iter()
        .flat_map(|r| {
            std::iter::once(r.query.as_path()).chain(r.matches.iter().map(|m| m.path.as_path()))
        })
        .collect();
    paths.sort();
    paths.dedup();
    let thumbs: HashMap<&Path, std::result::Result<String, String>> =
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
    let json = serde_json::to_string(results)
        .expect("paths and numbers serialise")
        .replace("</", "<\\/");
    format!(
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
    )
}
