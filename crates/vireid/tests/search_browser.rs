//! The search page in a real browser: headless Chromium opens a page `vireid search` wrote,
//! and a script added to a copy of it checks that every thumbnail decoded and that the
//! ranking shown (query, then each match's image, rank, score and frame) is the ranking in
//! the page's JSON, which `--json` printed. Chromium comes from Debian's packages; `test.sh`
//! installs it where it can (as root with apt-get). Where it is missing the test says so and
//! passes, unless VIREID_REQUIRE_BROWSER is set (CI sets it), when it fails.

mod common;
use common::{s, vireid};

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The check run in the page once everything has loaded; its verdict is appended to the
/// page as `<pre id="verdict">JSON</pre>`, which `--dump-dom` prints.
const CHECK: &str = r#"<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const undecoded = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);
  const ranking = JSON.parse(document.getElementById('ranking').textContent);
  const shown = [...document.querySelectorAll('section.query')].map(section => {
    const figures = [...section.querySelectorAll('figure')];
    const name = f => f.querySelector('img, div').title;
    return {
      query: name(figures[0]),
      matches: figures.slice(1).map(f => ({
        path: name(f),
        caption: f.querySelector('figcaption').textContent,
        frame: f.querySelector('img') ? getComputedStyle(f.querySelector('img')).borderTopColor : null,
        same: f.classList.contains('same'),
      })),
    };
  });
  const pre = document.createElement('pre');
  pre.id = 'verdict';
  pre.textContent = JSON.stringify({ images: images.length, undecoded, ranking, shown });
  document.body.appendChild(pre);
});
</script>"#;

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("VIREID_CHROMIUM").map(PathBuf::from),
        Some("/usr/bin/chromium".into()),
        Some("/usr/bin/chromium-browser".into()),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// The DOM of `page` after its scripts ran, from headless Chromium.
fn dump_dom(browser: &Path, page: &Path, profile: &Path) -> String {
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `v` with every number as a float (a browser writes 11.0 as 11).
fn numbers_as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_floats).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Decodes the few entities a `<pre>`'s text is escaped with.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn the_page_shows_every_thumbnail_and_the_json_ranking_in_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("VIREID_REQUIRE_BROWSER").is_none(),
            "VIREID_REQUIRE_BROWSER is set but no Chromium was found (/usr/bin/chromium, or VIREID_CHROMIUM)"
        );
        eprintln!("no Chromium here (apt-get install chromium): the browser test did not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Three people, two gallery images each, one query each; one gallery file unreadable
    // (its place shows the decoder's reason, not a broken image).
    let gallery: Vec<PathBuf> = (0..6)
        .map(|i| d.join(format!("gallery/{:04}/g{i}.jpg", i / 2 + 1)))
        .collect();
    let queries: Vec<PathBuf> = (0..3)
        .map(|i| d.join(format!("query/{:04}/q{i}.jpg", i + 1)))
        .collect();
    for (i, p) in gallery.iter().chain(&queries).enumerate() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let shade = (i * 28) as u8;
        image::RgbImage::from_fn(32, 64, |x, y| {
            image::Rgb([shade, (x * 8) as u8, (y * 4) as u8])
        })
        .save(p)
        .unwrap();
    }
    std::fs::write(&gallery[5], b"not a jpeg").unwrap();
    let rows = |n: usize, k: usize| -> Vec<f32> {
        (0..n * 4)
            .map(|i| 0.37 * ((((i * k) % 7) as f32) - 3.0))
            .collect()
    };
    let write = |path: &Path, paths: &[PathBuf], data: Vec<f32>, modality: &str| {
        let doc = json!({ "paths": paths, "modality": modality, "flip": true });
        let bytes = vireid_eval::embeddings::encode(&data, &data, 4, &doc);
        std::fs::write(path, bytes).unwrap();
    };
    let g = d.join("gallery.safetensors");
    let q = d.join("queries.safetensors");
    write(&g, &gallery, rows(6, 5), "visible");
    write(&q, &queries, rows(3, 3), "thermal");
    let html = d.join("page.html");
    let out = vireid(&[
        "search",
        "--gallery",
        s(&g),
        "--queries",
        s(&q),
        "--top",
        "5",
        "--ids-from-folders",
        "--html",
        s(&html),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();

    let page = std::fs::read_to_string(&html).unwrap();
    let checked = d.join("checked.html");
    std::fs::write(
        &checked,
        page.replace("</body>", &format!("{CHECK}</body>")),
    )
    .unwrap();
    let dom = dump_dom(&browser, &checked, &d.join("profile"));
    let start = dom
        .find("<pre id=\"verdict\">")
        .unwrap_or_else(|| panic!("the check did not run: {dom}"));
    let text = &dom[start + "<pre id=\"verdict\">".len()..];
    let verdict: Value =
        serde_json::from_str(&unescape(&text[..text.find("</pre>").unwrap()])).unwrap();

    // Every picture decoded: 3 queries and 15 matches, less the unreadable file's places.
    let unreadable_shown = printed["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["matches"].as_array().unwrap())
        .filter(|m| m["path"] == s(&gallery[5]))
        .count();
    assert_eq!(verdict["undecoded"], json!([]), "{verdict}");
    assert_eq!(verdict["images"], 3 + 15 - unreadable_shown);
    // The page's JSON is what --json printed, and the page shows that ranking.
    assert_eq!(
        numbers_as_floats(&verdict["ranking"]),
        numbers_as_floats(&printed["results"])
    );
    let ranking = verdict["ranking"].as_array().unwrap();
    let shown = verdict["shown"].as_array().unwrap();
    assert_eq!(shown.len(), ranking.len());
    for (r, v) in ranking.iter().zip(shown) {
        assert_eq!(v["query"], r["query"]);
        let (matches, seen) = (
            r["matches"].as_array().unwrap(),
            v["matches"].as_array().unwrap(),
        );
        assert_eq!(matches.len(), 5);
        assert_eq!(seen.len(), 5);
        for (m, f) in matches.iter().zip(seen) {
            assert_eq!(f["path"], m["path"]);
            let caption = f["caption"].as_str().unwrap();
            let (rank, score) = caption.split_once(". ").unwrap();
            assert_eq!(rank.parse::<u64>().unwrap(), m["rank"].as_u64().unwrap());
            let score: f64 = score.parse().unwrap();
            assert!(
                (score - m["score"].as_f64().unwrap()).abs() <= 5e-4 + 1e-9,
                "{caption}"
            );
            assert_eq!(f["same"], m["same_person"]);
            // Green frames for the same person, red for another (where a picture is shown).
            if m["path"] != s(&gallery[5]) {
                let want = if m["same_person"] == true {
                    "rgb(34, 170, 34)"
                } else {
                    "rgb(204, 34, 34)"
                };
                assert_eq!(f["frame"], want, "{}", m["path"]);
            }
        }
    }
}
