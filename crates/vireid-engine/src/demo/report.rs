//! The demo's report folder: the results (text, JSON, HTML), the training curves, an
//! augmentation grid and a ranked-list picture, tied together by index.html.

use super::results::RunResult;
use crate::config::TrainConfig;
use crate::error::{write_atomic, EngineError, Result};
use crate::evaluate::Side;
use image::{Rgb, RgbImage};
use std::fmt::Write as _;
use std::path::Path;
use vireid_augment::{grid, Preset};
use vireid_data::image_io::{load_resized, Size};
use vireid_data::synth::SynthReport;
use vireid_data::Entry;
use vireid_eval::report::trial_table;
use vireid_eval::similarity::dot_t;
use vireid_eval::Dataset;

/// What the report shows.
pub struct Inputs<'a> {
    /// The dataset root the entries' paths are relative to.
    pub root: &'a Path,
    pub synth: &'a SynthReport,
    pub config: &'a TrainConfig,
    /// The query images and their features (of the first run).
    pub query: (&'a [Entry], &'a Side),
    /// The first trial's gallery and its features (of the first run).
    pub gallery: (&'a [Entry], &'a Side),
    /// The fused score's weight.
    pub alpha: f32,
    pub runs: &'a [RunResult],
    /// The search page beside index.html (`search.html`), when there is one.
    pub search_page: Option<&'a str>,
}

/// Queries shown in the ranked-list picture, and gallery items per query.
pub const RANKED_QUERIES: usize = 6;
pub const RANKED_TOP: usize = 10;
/// Size of one picture in the ranked list.
const CELL: (u32, u32) = (128, 64);
const BORDER: u32 = 4;
const GAP: u32 = 6;

fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|source| EngineError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    write_atomic(path, &png)
}

/// The fused-score table of all runs: one row each.
pub fn comparison_table(runs: &[RunResult]) -> String {
    let mut s = format!(
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "run", "Rank-1", "Rank-5", "Rank-10", "Rank-20", "mAP", "mINP"
    );
    for r in runs {
        let cells = headline_cells(r);
        let _ = write!(s, "{:<10}", r.name);
        for c in cells {
            let _ = write!(s, " {c:>8}");
        }
        s.push('\n');
    }
    s
}

/// Rank-1/5/10/20, mAP and mINP of a run's fused score as percentages; "-" for a rank
/// beyond the gallery, as the four-score table shows it.
fn headline_cells(r: &RunResult) -> Vec<String> {
    let m = r.headline();
    let pct = |v: f64| format!("{:.2}%", 100.0 * v);
    let mut cells: Vec<String> = [1, 5, 10, 20]
        .iter()
        .map(|&k| m.cmc.get(k - 1).map_or("-".to_string(), |&v| pct(v)))
        .collect();
    cells.push(pct(m.map));
    cells.push(pct(m.minp));
    cells
}

/// Ranked lists of a few queries: per row the query (blue frame), then its top gallery
/// items by the fused score, framed green when the same person and red otherwise. The
/// protocol's rule applies (SYSU-MM01: a camera-3 query does not see camera 2).
pub fn ranked_picture(
    root: &Path,
    query: (&[Entry], &Side),
    gallery: (&[Entry], &Side),
    alpha: f32,
) -> Result<(RgbImage, Vec<RankedRow>)> {
    let (qe, qs) = query;
    let (ge, gs) = gallery;
    let pool = dot_t(&qs.pool.view(), &gs.pool.view());
    let bn = dot_t(&qs.bn.view(), &gs.bn.view());
    let similarity = pool * (1.0 - alpha) + bn * alpha;
    // Queries of different people, spread over the list.
    let mut picked: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let stride = (qe.len() / RANKED_QUERIES.max(1)).max(1);
    for i in (0..qe.len()).step_by(stride).chain(0..qe.len()) {
        if picked.len() == RANKED_QUERIES {
            break;
        }
        if seen.insert(qe[i].id) {
            picked.push(i);
        }
    }
    let (ch, cw) = CELL;
    let (fh, fw) = (ch + 2 * BORDER, cw + 2 * BORDER);
    let width = fw + 3 * GAP + RANKED_TOP as u32 * (fw + GAP);
    let height = picked.len() as u32 * (fh + GAP) + GAP;
    let mut img = RgbImage::from_pixel(width, height.max(1), Rgb([255, 255, 255]));
    let mut rows = Vec::new();
    for (row, &q) in picked.iter().enumerate() {
        let mut order: Vec<usize> = (0..ge.len())
            .filter(|&g| {
                !Dataset::Sysu.ignores(
                    i64::from(qe[q].id),
                    i64::from(qe[q].cam),
                    i64::from(ge[g].id),
                    i64::from(ge[g].cam),
                )
            })
            .collect();
        // Highest similarity first; ties by gallery index, as the evaluation ranks.
        order.sort_by(|&a, &b| similarity[[q, b]].total_cmp(&similarity[[q, a]]));
        order.truncate(RANKED_TOP);
        let y = GAP + row as u32 * (fh + GAP);
        paste(&mut img, root, &qe[q], (GAP, y), Rgb([40, 90, 220]))?;
        let mut hits = Vec::new();
        for (k, &g) in order.iter().enumerate() {
            let hit = ge[g].id == qe[q].id;
            let colour = if hit {
                Rgb([30, 170, 60])
            } else {
                Rgb([220, 40, 40])
            };
            let x = fw + 3 * GAP + k as u32 * (fw + GAP);
            paste(&mut img, root, &ge[g], (x, y), colour)?;
            hits.push(hit);
        }
        rows.push(RankedRow {
            query: qe[q].path.clone(),
            id: qe[q].id,
            top: order.iter().map(|&g| ge[g].path.clone()).collect(),
            hits,
        });
    }
    Ok((img, rows))
}

/// One row of the ranked-list picture.
#[derive(serde::Serialize)]
pub struct RankedRow {
    pub query: String,
    pub id: u32,
    pub top: Vec<String>,
    pub hits: Vec<bool>,
}

fn paste(img: &mut RgbImage, root: &Path, e: &Entry, at: (u32, u32), frame: Rgb<u8>) -> Result<()> {
    let (ch, cw) = CELL;
    let pixels = load_resized(&root.join(&e.path), Size::new(ch, cw))?;
    let (x0, y0) = at;
    for y in 0..ch + 2 * BORDER {
        for x in 0..cw + 2 * BORDER {
            let inside = (BORDER..BORDER + cw).contains(&x) && (BORDER..BORDER + ch).contains(&y);
            let p = if inside {
                let i = (((y - BORDER) * cw + (x - BORDER)) * 3) as usize;
                Rgb([pixels[i], pixels[i + 1], pixels[i + 2]])
            } else {
                frame
            };
            img.put_pixel(x0 + x, y0 + y, p);
        }
    }
    Ok(())
}

/// The start of a report page titled `title`: the style every demo page shares, and the
/// title as its heading.
pub(super) fn page_head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 10px;\
         text-align:right}}th{{background:#eee}}td:first-child{{text-align:left}}\
         img{{max-width:100%;border:1px solid #ddd}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}\
         </style></head><body>\n<h1>{title}</h1>\n"
    )
}

pub(super) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_table(runs: &[RunResult]) -> String {
    let mut s = String::from(
        "<table><tr><th>run</th><th>Rank-1</th><th>Rank-5</th><th>Rank-10</th><th>Rank-20</th>\
         <th>mAP</th><th>mINP</th></tr>\n",
    );
    for r in runs {
        let cells: String = headline_cells(r)
            .iter()
            .map(|c| format!("<td>{c}</td>"))
            .collect();
        let _ = writeln!(s, "<tr><td>{}</td>{cells}</tr>", html_escape(&r.name));
    }
    s.push_str("</table>\n");
    s
}

/// Writes the whole report folder.
pub fn write(dir: &Path, inputs: &Inputs<'_>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| EngineError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let c = inputs.config;
    // Results as text and JSON.
    let mut text = String::new();
    for r in inputs.runs {
        let _ = writeln!(
            text,
            "{} (RLE {}), {} trials\n{}",
            r.name,
            if r.rle { "on" } else { "off" },
            r.report.trials.len(),
            trial_table(&r.report)
        );
    }
    text.push_str(&comparison_table(inputs.runs));
    write_atomic(&dir.join("results.txt"), text.as_bytes())?;
    // Curves of every run.
    for r in inputs.runs {
        let from = r.dir.join("curves.png");
        let bytes = std::fs::read(&from).map_err(|source| EngineError::Read {
            path: from.clone(),
            source,
        })?;
        write_atomic(&dir.join(format!("curves-{}.png", r.name)), &bytes)?;
    }
    // The augmentation grid on the first gallery (visible) image, at training size.
    let sysu = Preset::sysu().with_size(c.height, c.width);
    let preset = Preset {
        pad: c.pad.unwrap_or(sysu.pad),
        ..sysu
    };
    let first = &inputs.gallery.0[0];
    let pixels = load_resized(
        &inputs.root.join(&first.path),
        Size::new(c.height as u32, c.width as u32),
    )?;
    let g = grid(preset, &pixels, 8, c.seed)?;
    let picture = RgbImage::from_raw(g.width, g.height, g.rgb).expect("width x height x 3 bytes");
    // Training images are small here: enlarge (pixels kept square and sharp) to be seen.
    let zoom = (192 / c.height.max(1)).clamp(1, 4) as u32;
    let shown = image::imageops::resize(
        &picture,
        g.width * zoom,
        g.height * zoom,
        image::imageops::FilterType::Nearest,
    );
    write_png(&dir.join("augmentation.png"), &shown)?;
    let row_names: Vec<String> = g.rows.iter().map(|r| r.name.to_string()).collect();
    // Ranked lists.
    let (ranked, rows) = ranked_picture(inputs.root, inputs.query, inputs.gallery, inputs.alpha)?;
    write_png(&dir.join("ranked.png"), &ranked)?;
    let json = serde_json::json!({
        "dataset": inputs.synth,
        "config": c,
        "protocol": super::PROTOCOL,
        "runs": inputs.runs,
        "ranked": rows,
    });
    write_atomic(
        &dir.join("results.json"),
        serde_json::to_string_pretty(&json)
            .expect("a JSON value serialises")
            .as_bytes(),
    )?;
    write_atomic(&dir.join("index.html"), html(inputs, &row_names).as_bytes())
}

fn html(inputs: &Inputs<'_>, grid_rows: &[String]) -> String {
    let c = inputs.config;
    let s = inputs.synth;
    let mut h = page_head("vireid demo");
    let _ = writeln!(
        h,
        "<p>A synthetic cross-spectral dataset in the SYSU-MM01 layout ({} people: {} to train, \
         {} to test; {} visible and {} infrared images), a two-stream {} part network trained \
         for {} epochs at {}x{} from random weights, tested with the SYSU-MM01 protocol \
         (all-search, single-shot, infrared queries against visible galleries) over {} gallery \
         trials. Scores are the fused ones (a = {}), of the final weights.</p>",
        s.ids,
        s.train_ids,
        s.test_ids,
        s.visible_images,
        s.infrared_images,
        c.backbone,
        c.epochs,
        c.height,
        c.width,
        inputs.runs[0].report.trials.len(),
        inputs.alpha
    );
    h.push_str("<h2>Results</h2>\n");
    h.push_str(&html_table(inputs.runs));
    if inputs.runs.len() > 1 {
        h.push_str(
            "<p><b>rle</b> trains with moderate and radical Random Linear Enhancement in the \
             augmentation; <b>baseline</b> is the same run without them. This data is not \
             SYSU-MM01: its infrared views are per-material linear functions of the colours \
             by construction, which is the relation RLE models, so the comparison shows the \
             mechanism at work, not the size of the gain on real cameras.</p>\n",
        );
    }
    for r in inputs.runs {
        let _ = writeln!(
            h,
            "<h3>{} (RLE {}): all four scores, mean of the trials</h3>\n<pre>{}</pre>",
            html_escape(&r.name),
            if r.rle { "on" } else { "off" },
            html_escape(&trial_table(&r.report))
        );
    }
    h.push_str("<h2>Training curves</h2>\n");
    for r in inputs.runs {
        let _ = writeln!(
            h,
            "<p>{}</p><img src=\"curves-{}.png\" alt=\"training curves of {}\">",
            html_escape(&r.name),
            html_escape(&r.name),
            html_escape(&r.name)
        );
    }
    let _ = writeln!(
        h,
        "<h2>Ranked lists</h2>\n<p>First trial's gallery. Each row: an infrared query (blue \
         frame), then its top {RANKED_TOP} visible gallery images by the fused score; green: \
         the same person, red: another.</p><img src=\"ranked.png\" alt=\"ranked lists\">"
    );
    if let Some(page) = inputs.search_page {
        let _ = writeln!(
            h,
            "<p>The same model as a user runs it on raw images: <a href=\"{page}\">the \
             search page</a> (<code>vireid embed</code> of the test people's images, then \
             <code>vireid search --ids-from-folders --html</code>; the embeddings are in \
             <code>search/</code>).</p>",
            page = html_escape(page)
        );
    }
    let rows: String = grid_rows
        .iter()
        .enumerate()
        .map(|(i, n)| format!("<li>row {}: {}</li>", i + 1, html_escape(n)))
        .collect();
    let _ = writeln!(
        h,
        "<h2>Augmentation</h2>\n<p>A visible image at training size (left column; enlarged) \
         and eight draws; the first row is the whole training pipeline, the others force one \
         transform on.</p><ol style=\"list-style:none;padding:0\">{rows}</ol>\
         <img src=\"augmentation.png\" alt=\"augmentation grid\">"
    );
    let _ = writeln!(
        h,
        "<h2>Files</h2><p><code>results.txt</code>, <code>results.json</code> (every score of \
         every trial, the ranked lists), and the run folders (<code>config.toml</code>, \
         <code>metrics.csv</code>, checkpoints).</p>\n<h2>Training config</h2><pre>{}</pre>\n\
         </body></html>",
        html_escape(&c.to_toml())
    );
    h
}
