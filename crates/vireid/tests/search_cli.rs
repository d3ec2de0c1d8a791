//! `vireid search` on embeddings files written here (no network needed): the ranking equals
//! a brute-force one, the default weight follows the modalities, the same person is marked
//! from the folders, and the page shows every image and the same ranking.

mod common;
use common::{s, vireid};

use base64::Engine as _;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use vireid_data::{Dataset, Direction};

/// Writes an embeddings file of `rows` (pool = bn scaled) for `paths` and `modality`.
fn write(path: &Path, paths: &[PathBuf], rows: &[Vec<f32>], modality: &str) {
    let dim = rows[0].len();
    let pool: Vec<f32> = rows.iter().flatten().copied().collect();
    let bn: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.iter().rev().map(|v| 0.5 * v))
        .collect();
    let doc = json!({ "paths": paths, "modality": modality, "flip": true });
    std::fs::write(path, vireid_eval::embeddings::encode(&pool, &bn, dim, &doc)).unwrap();
}

/// A small image of one colour at `path`.
fn picture(path: &Path, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(24, 48, image::Rgb([shade, 255 - shade, 90]))
        .save(path)
        .unwrap();
}

struct World {
    _dir: tempfile::TempDir,
    gallery: PathBuf,
    queries: PathBuf,
    gpaths: Vec<PathBuf>,
    qpaths: Vec<PathBuf>,
    grows: Vec<Vec<f32>>,
    qrows: Vec<Vec<f32>>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gpaths: Vec<PathBuf> = (0..6)
        .map(|i| d.join(format!("gallery/{:04}/g{i}.png", i / 2 + 1)))
        .collect();
    let qpaths: Vec<PathBuf> = (0..3)
        .map(|i| d.join(format!("query/{:04}/q{i}.png", i + 1)))
        .collect();
    for (i, p) in gpaths.iter().chain(&qpaths).enumerate() {
        picture(p, (i * 25) as u8);
    }
    let grows: Vec<Vec<f32>> = (0..6)
        .map(|i| (0..4).map(|j| ((i * 7 + j * 3) % 5) as f32 - 2.0).collect())
        .collect();
    let qrows: Vec<Vec<f32>> = (0..3)
        .map(|i| (0..4).map(|j| ((i * 5 + j * 2) % 7) as f32 - 3.0).collect())
        .collect();
    let gallery = d.join("gallery.safetensors");
    let queries = d.join("queries.safetensors");
    write(&gallery, &gpaths, &grows, "visible");
    write(&queries, &qpaths, &qrows, "thermal");
    World {
        _dir: dir,
        gallery,
        queries,
        gpaths,
        qpaths,
        grows,
        qrows,
    }
}

/// The fused score of a query row and a gallery row, as `write` laid out pool and bn.
fn fused(q: &[f32], g: &[f32], alpha: f32) -> f32 {
    let pool: f32 = q.iter().zip(g).map(|(a, b)| a * b).sum();
    let bn: f32 = q
        .iter()
        .rev()
        .zip(g.iter().rev())
        .map(|(a, b)| 0.25 * a * b)
        .sum();
    (1.0 - alpha) * pool + alpha * bn
}

fn ok_json(args: &[&str]) -> Value {
    let out = vireid(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_ranking_is_the_brute_force_one_with_the_reference_weight() {
    let w = world();
    let html = w.gallery.with_file_name("page.html");
    let v = ok_json(&[
        "search",
        "--gallery",
        s(&w.gallery),
        "--queries",
        s(&w.queries),
        "--top",
        "4",
        "--ids-from-folders",
        "--html",
        s(&html),
        "--json",
    ]);
    // Thermal queries, visible gallery: SYSU-MM01's infrared-to-visible weight.
    let alpha = Dataset::Sysu.fused_alpha(Direction::InfraredToVisible);
    assert_eq!(v["alpha"].as_f64().unwrap() as f32, alpha);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for (qi, r) in results.iter().enumerate() {
        assert_eq!(r["query"], s(&w.qpaths[qi]));
        let mut order: Vec<(usize, f32)> = w
            .grows
            .iter()
            .enumerate()
            .map(|(gi, g)| (gi, fused(&w.qrows[qi], g, alpha)))
            .collect();
        order.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
        let matches = r["matches"].as_array().unwrap();
        assert_eq!(matches.len(), 4);
        for (m, (gi, score)) in matches.iter().zip(&order) {
            assert_eq!(m["path"], s(&w.gpaths[*gi]), "query {qi}");
            assert!((m["score"].as_f64().unwrap() as f32 - score).abs() < 1e-5);
            // Query i sits in folder i + 1, gallery image g in folder g / 2 + 1.
            assert_eq!(m["same_person"], json!(gi / 2 == qi));
        }
    }
    // The page: every query and match as a decodable picture, and the same ranking.
    let page = std::fs::read_to_string(&html).unwrap();
    let uris: Vec<&str> = page
        .split("src=\"data:image/jpeg;base64,")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(uris.len(), 3 * (1 + 4));
    for b64 in uris {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!(img.height(), 128);
    }
    let start = page
        .find("<script id=\"ranking\" type=\"application/json\">")
        .unwrap();
    let body = &page[start..];
    let body = &body[body.find('>').unwrap() + 1..body.find("</script>").unwrap()];
    let shown: Value = serde_json::from_str(&body.replace("<\\/", "</")).unwrap();
    assert_eq!(&shown, &v["results"]);
    assert_eq!(page.matches("class=\"hit same\"").count(), {
        results
            .iter()
            .flat_map(|r| r["matches"].as_array().unwrap())
            .filter(|m| m["same_person"] == true)
            .count()
    });
}

#[test]
fn an_explicit_weight_a_missing_image_and_bad_files() {
    let w = world();
    std::fs::remove_file(&w.gpaths[0]).unwrap();
    let html = w.gallery.with_file_name("page.html");
    let v = ok_json(&[
        "search",
        "--gallery",
        s(&w.gallery),
        "--queries",
        s(&w.queries),
        "--alpha",
        "1",
        "--top",
        "6",
        "--html",
        s(&html),
        "--json",
    ]);
    assert_eq!(v["alpha"], 1.0);
    let top = &v["results"][0]["matches"][0];
    let best = (0..6)
        .max_by(|&a, &b| {
            fused(&w.qrows[0], &w.grows[a], 1.0)
                .partial_cmp(&fused(&w.qrows[0], &w.grows[b], 1.0))
                .unwrap()
                .then(b.cmp(&a))
        })
        .unwrap();
    assert_eq!(top["path"], s(&w.gpaths[best]));
    assert!(top.get("same_person").is_none());
    // The missing image is a named placeholder, not a failure.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("class=\"missing\""));
    // Files that are not embeddings, and two that do not fit.
    let junk = w.gallery.with_file_name("junk.safetensors");
    std::fs::write(&junk, b"junk").unwrap();
    let out = vireid(&["search", "--gallery", s(&junk), "--queries", s(&w.queries)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.safetensors"));
    let wide = w.gallery.with_file_name("wide.safetensors");
    write(&wide, &w.gpaths[..1], &[vec![1.0; 5]], "visible");
    let out = vireid(&["search", "--gallery", s(&wide), "--queries", s(&w.queries)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not the same network"),
        "{err}"
    );
    let out = vireid(&[
        "search",
        "--gallery",
        s(&w.gallery),
        "--queries",
        s(&w.gallery),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--alpha"), "{err}");
}

/// `n` rows of `dim` pseudo-random values (a multiplicative congruential sequence) in -1..1.
fn rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut x = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}

/// `--index hnsw` on a gallery small enough for its graph search to see every image: the
/// exact ranking and scores; the index is kept beside the file, reused, and rebuilt when the
/// file changes.
#[test]
fn the_hnsw_index_ranks_as_the_exact_search_and_is_kept_beside_the_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gpaths: Vec<PathBuf> = (0..150).map(|i| d.join(format!("g/{i}.png"))).collect();
    let qpaths: Vec<PathBuf> = (0..5).map(|i| d.join(format!("q/{i}.png"))).collect();
    let (gallery, queries) = (d.join("g.safetensors"), d.join("q.safetensors"));
    write(&gallery, &gpaths, &rows(150, 12, 1), "visible");
    write(&queries, &qpaths, &rows(5, 12, 2), "thermal");
    let search = |index: &str| {
        let out = vireid(&[
            "search",
            "--gallery",
            s(&gallery),
            "--queries",
            s(&queries),
            "--top",
            "8",
            "--index",
            index,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (exact, _) = search("exact");
    let (approx, note) = search("hnsw");
    assert_eq!(approx, exact);
    assert!(note.contains("indexed 150 gallery images"), "{note}");
    let folder = d.join("g.hnsw");
    assert!(folder.join("index.json").is_file());
    let (again, quiet) = search("hnsw");
    assert_eq!(again, exact);
    assert!(
        !quiet.contains("indexed"),
        "the saved index is reused: {quiet}"
    );
    // Another gallery under the same name: the old index is not used for it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&gallery, &gpaths, &rows(150, 12, 3), "visible");
    let (exact, _) = search("exact");
    let (approx, note) = search("hnsw");
    assert!(note.contains("rebuilding"), "{note}");
    assert_eq!(approx, exact);
}
