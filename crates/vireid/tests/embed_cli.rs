//! `vireid embed`: raw images to features equal to the test transform done by Pillow and
//! run through `vireid extract`; unreadable images stop the run by name or are skipped when
//! asked; an interrupted run continues from its saved chunks to the same bytes.

mod common;
use common::{oracle, run_python, s, vireid};

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A reference-format ResNet-18 checkpoint (`DIR/ref.t`) from crates/vireid-nn's oracle.
fn checkpoint(dir: &Path) -> PathBuf {
    oracle(
        dir,
        &[
            "--depth",
            "18",
            "--dataset",
            "sysu",
            "--n",
            "1",
            "--height",
            "96",
            "--width",
            "48",
        ],
    );
    dir.join("ref.t")
}

/// `n` photographs-like PNG and JPEG images of different sizes in `dir` (by Pillow).
fn images(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    run_python(
        "import sys, numpy as np
from PIL import Image
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
for i in range(n):
    h, w = 120 + 13 * i, 60 + 7 * i
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 3 + i * 20) % 256, (y * 2) % 256, (x + y) % 256], -1)
    img = (img + rng.integers(0, 40, img.shape)).clip(0, 255).astype('uint8')
    ext = 'png' if i % 2 == 0 else 'jpg'
    Image.fromarray(img).save(f'{d}/img{i:02d}.{ext}')
",
        &[s(dir), &n.to_string()],
    );
}

fn embed(args: &[&str]) -> Output {
    vireid(&[&["embed"], args].concat())
}

/// The `pool` and `bn` rows and the metadata of an embed output.
/// `vireid embed INPUT` at the tests' size (96 x 48) on the CPU with `--json`, plus `extra`.
fn embed_at(input: &Path, ckpt: &Path, modality: &str, out: &Path, extra: &[&str]) -> Output {
    let mut a = vec![
        s(input),
        "--checkpoint",
        s(ckpt),
        "--modality",
        modality,
        "--height",
        "96",
        "--width",
        "48",
        "--out",
        s(out),
        "--device",
        "cpu",
        "--json",
    ];
    a.extend(extra);
    embed(&a)
}

fn read_output(path: &Path) -> (Array2<f32>, Array2<f32>, serde_json::Map<String, Value>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let info: serde_json::Map<String, Value> =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["embedding"]).unwrap();
    let t = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let matrix = |name: &str| {
        let view = t.tensor(name).unwrap();
        let v: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Array2::from_shape_vec((view.shape()[0], view.shape()[1]), v).unwrap()
    };
    (matrix("pool"), matrix("bn"), info)
}

fn paths_of(info: &serde_json::Map<String, Value>) -> Vec<String> {
    serde_json::from_value(info["paths"].clone()).unwrap()
}

#[test]
fn embed_equals_pillows_test_transform_through_extract() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ckpt = checkpoint(d);
    let imgs = d.join("imgs");
    images(&imgs, 5);
    // Pillow does the test transform: RGB, Lanczos to 96 x 48, ImageNet normalisation.
    run_python(
        "import sys, glob, numpy as np
from PIL import Image
d, out = sys.argv[1], sys.argv[2]
mean = np.array([0.485, 0.456, 0.406], 'float32')
std = np.array([0.229, 0.224, 0.225], 'float32')
batch = []
for p in sorted(glob.glob(d + '/*')):
    im = Image.open(p).convert('RGB').resize((48, 96), Image.LANCZOS)
    a = (np.asarray(im, 'float32') / 255.0 - mean) / std
    batch.append(a.transpose(2, 0, 1))
np.save(out, np.stack(batch).astype('float32'))
",
        &[s(&imgs), s(&d.join("batch.npy"))],
    );
    let o = vireid(&[
        "extract",
        "--checkpoint",
        s(&ckpt),
        "--modality",
        "thermal",
        "--input",
        s(&d.join("batch.npy")),
        "--out",
        s(&d.join("extract")),
        "--flip",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = d.join("e.safetensors");
    let o = embed_at(&imgs, &ckpt, "thermal", &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["images"], 5);
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 0);
    let (pool, bn, info) = read_output(&out);
    let names: Vec<String> = paths_of(&info)
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "img00.png",
            "img01.jpg",
            "img02.png",
            "img03.jpg",
            "img04.png"
        ]
    );
    assert_eq!(info["flip"], true);
    assert_eq!(info["modality"], "thermal");
    for (name, ours) in [("pool", &pool), ("bn", &bn)] {
        let file = std::fs::File::open(d.join("extract").join(format!("{name}.npy"))).unwrap();
        let theirs = Array2::<f32>::read_npy(file).unwrap();
        assert_eq!(ours.dim(), theirs.dim(), "{name}");
        // Resizing agrees with Pillow within one level of 255 (JPEG decoding within a few), so
        // the features agree closely but not exactly. Measured: 1 - cosine at most 7e-6 a
        // row, largest difference 0.4% of the largest value. A wrong modality (1 - cosine
        // 0.015, difference 23%) or a missing flip (0.004, 49%) is far outside.
        let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = ours
            .iter()
            .zip(theirs.iter())
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-2 * scale, "{name}: {worst} of {scale}");
        for (a, b) in ours.rows().into_iter().zip(theirs.rows()) {
            let cos = a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt());
            assert!(1.0 - cos <= 1e-4, "{name}: 1 - cosine {}", 1.0 - cos);
        }
    }
}

#[test]
fn unreadable_images_stop_by_name_or_are_skipped_and_a_stopped_run_continues() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ckpt = checkpoint(d);
    let imgs = d.join("imgs");
    images(&imgs, 6);
    let good = std::fs::read(imgs.join("img03.jpg")).unwrap();
    // A truncated JPEG in the second chunk of two images.
    std::fs::write(imgs.join("img03.jpg"), &good[..good.len() / 3]).unwrap();
    let out = d.join("e.safetensors");
    let run = |extra: &[&str]| {
        let mut a = vec!["--chunk", "2"];
        a.extend(extra);
        embed_at(&imgs, &ckpt, "visible", &out, &a)
    };
    let o = run(&[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("img03.jpg") && err.contains("--skip-unreadable"),
        "{err}"
    );
    assert!(!out.exists());
    // The chunk before it was saved.
    let partial = d.join("e.safetensors.partial");
    assert!(partial.join("chunk-000000.safetensors").exists());

    // Skipped when asked: listed, and the rows are the readable images.
    let o = run(&["--skip-unreadable"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["images"], 5);
    assert!(summary["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("img03.jpg"));
    let (pool, _, info) = read_output(&out);
    assert_eq!(pool.nrows(), 5);
    assert_eq!(paths_of(&info).len(), 5);
    assert!(
        !partial.exists(),
        "the chunks go once the output is written"
    );

    // Stopped at the bad image, then mended: the same command continues from the saved
    // chunk and ends with the bytes of a run never stopped.
    std::fs::remove_file(&out).unwrap();
    assert!(!run(&[]).status.success());
    std::fs::write(imgs.join("img03.jpg"), &good).unwrap();
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["chunks_reused"], 1);
    let resumed = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    let o = run(&[]);
    assert!(o.status.success());
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["chunks_reused"], 0);
    assert_eq!(std::fs::read(&out).unwrap(), resumed);
}

/// Batches smaller than a chunk: each batch is decoded while the network runs the one
/// before. Two unreadable images in one chunk, in different batches, are both named when the
/// first stops the run; skipped, the rows left are those of the readable images, equal to
/// a run over those images alone.
#[test]
fn unreadable_images_in_later_batches_of_a_chunk_are_named_together_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ckpt = checkpoint(d);
    let imgs = d.join("imgs");
    images(&imgs, 4);
    let good_dir = d.join("good");
    std::fs::create_dir_all(&good_dir).unwrap();
    for name in ["img00.png", "img03.jpg"] {
        std::fs::copy(imgs.join(name), good_dir.join(name)).unwrap();
    }
    for name in ["img01.jpg", "img02.png"] {
        let bytes = std::fs::read(imgs.join(name)).unwrap();
        std::fs::write(imgs.join(name), &bytes[..bytes.len() / 4]).unwrap();
    }
    let run = |folder: &Path, out: &Path, extra: &[&str]| {
        let mut a = vec!["--chunk", "4", "--batch", "1"];
        a.extend(extra);
        embed_at(folder, &ckpt, "thermal", out, &a)
    };
    let out = d.join("e.safetensors");
    let o = run(&imgs, &out, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("img01.jpg") && err.contains("img02.png"),
        "{err}"
    );
    assert!(
        !err.contains("img00.png") && !err.contains("img03.jpg"),
        "{err}"
    );

    let o = run(&imgs, &out, &["--skip-unreadable"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (pool, bn, info) = read_output(&out);
    let alone = d.join("alone.safetensors");
    let o = run(&good_dir, &alone, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (pool2, bn2, _) = read_output(&alone);
    assert_eq!(pool.nrows(), 2);
    assert_eq!(paths_of(&info).len(), 2);
    let largest = (&pool - &pool2)
        .iter()
        .chain((&bn - &bn2).iter())
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(largest < 1e-5, "{largest}");
}

#[test]
fn a_list_file_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ckpt = checkpoint(d);
    let imgs = d.join("imgs");
    images(&imgs, 3);
    std::fs::write(
        d.join("list.txt"),
        "# two of them\nimgs/img02.png\n\nimgs/img00.png\n",
    )
    .unwrap();
    let out = d.join("l.safetensors");
    let o = embed(&[
        "--list",
        s(&d.join("list.txt")),
        "--checkpoint",
        s(&ckpt),
        "--modality",
        "visible",
        "--height",
        "96",
        "--width",
        "48",
        "--out",
        s(&out),
        "--device",
        "cpu",
        "--no-flip",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, _, info) = read_output(&out);
    let paths = paths_of(&info);
    assert!(
        paths[0].ends_with("img02.png") && paths[1].ends_with("img00.png"),
        "{paths:?}"
    );
    assert_eq!(info["flip"], false);
    for (args, needed) in [
        (vec![s(&d.join("nothing"))], "nothing"),
        (
            vec![s(d
                .join("list.txt")
                .parent()
                .unwrap()
                .join("empty")
                .as_path())],
            "empty",
        ),
    ] {
        std::fs::create_dir_all(d.join("empty")).unwrap();
        let mut all = args.clone();
        all.extend([
            "--checkpoint",
            s(&ckpt),
            "--modality",
            "visible",
            "--out",
            s(&out),
        ]);
        let o = embed(&all);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needed) || err.contains("no images"), "{err}");
    }
}

/// `vireid search` with raw query images embeds them with the gallery's checkpoint, size
/// and flip as the other modality: the ranking and scores equal those of embedding them
/// first; what it cannot know is asked for by name.
#[test]
fn search_embeds_raw_queries_as_embed_would() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ckpt = checkpoint(d);
    let (gdir, qdir) = (d.join("gallery"), d.join("queries"));
    images(&gdir, 4);
    images(&qdir, 2);
    let settings = ["--height", "96", "--width", "48", "--device", "cpu"];
    let gallery = d.join("g.safetensors");
    let queries = d.join("q.safetensors");
    for (input, modality, out) in [(&gdir, "visible", &gallery), (&qdir, "thermal", &queries)] {
        let o = embed(
            &[
                &[
                    s(input),
                    "--checkpoint",
                    s(&ckpt),
                    "--modality",
                    modality,
                    "--out",
                    s(out),
                ][..],
                &settings[..],
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // The children's temporary files go to a folder of this test's, checked empty at the end.
    let tmp = d.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vireid"))
            .args(args)
            .env("TMPDIR", &tmp)
            .output()
            .unwrap()
    };
    let search = |q: &[&str]| {
        let o = run(&[
            &[
                "search",
                "--gallery",
                s(&gallery),
                "--top",
                "3",
                "--json",
                "--queries",
            ],
            q,
        ]
        .concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let embedded_first = search(&[s(&queries)]);
    let on_the_fly = search(&[s(&qdir)]);
    assert_eq!(on_the_fly["results"], embedded_first["results"]);
    assert_eq!(on_the_fly["alpha"], embedded_first["alpha"]);
    assert_eq!(on_the_fly["queries"], serde_json::json!([s(&qdir)]));
    // A raw gallery beside embedded queries: embedded with the queries' checkpoint, size and
    // flip as the other modality.
    let o = run(&[
        "search",
        "--gallery",
        s(&gdir),
        "--queries",
        s(&queries),
        "--top",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let raw_gallery: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(raw_gallery["results"], embedded_first["results"]);
    // Both raw: --checkpoint needed; embed's own defaults (the paper's size for a .t without
    // a run folder, flip), as two embed runs with defaults give.
    let o = run(&["search", "--gallery", s(&gdir), "--queries", s(&qdir)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --checkpoint"));
    let defaults = [d.join("gd.safetensors"), d.join("qd.safetensors")];
    for (input, modality, out) in [
        (&gdir, "visible", &defaults[0]),
        (&qdir, "thermal", &defaults[1]),
    ] {
        let o = embed(&[
            s(input),
            "--checkpoint",
            s(&ckpt),
            "--modality",
            modality,
            "--out",
            s(out),
            "--device",
            "cpu",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(&[
        "search",
        "--gallery",
        s(&defaults[0]),
        "--queries",
        s(&defaults[1]),
        "--top",
        "3",
        "--json",
    ]);
    let both_embedded: Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = run(&[
        "search",
        "--gallery",
        s(&gdir),
        "--queries",
        s(&qdir),
        "--checkpoint",
        s(&ckpt),
        "--top",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let both_raw: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(both_raw["results"], both_embedded["results"]);
    assert_ne!(
        both_raw["results"], embedded_first["results"],
        "the size made no difference"
    );
    // Two single files, and the queries through the visible stem on request: other scores.
    let files = [qdir.join("img00.png"), qdir.join("img01.jpg")];
    let two = search(&[s(&files[0]), s(&files[1])]);
    assert_eq!(two["results"], embedded_first["results"]);
    // Same weight as above, so only the stem differs.
    let alpha = embedded_first["alpha"].to_string();
    let visible = run(&[
        "search",
        "--gallery",
        s(&gallery),
        "--json",
        "--alpha",
        &alpha,
        "--query-modality",
        "visible",
        "--queries",
        s(&qdir),
    ]);
    assert!(visible.status.success());
    let visible: Value = serde_json::from_slice(&visible.stdout).unwrap();
    assert_ne!(
        visible["results"][0]["matches"][0]["score"],
        embedded_first["results"][0]["matches"][0]["score"]
    );
    // Flags for raw images beside an embeddings file, and a gallery that names no
    // checkpoint, are refused by name.
    let o = vireid(&[
        "search",
        "--gallery",
        s(&gallery),
        "--queries",
        s(&queries),
        "--checkpoint",
        s(&ckpt),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already embedded"));
    let bare = d.join("bare.safetensors");
    let (pool, _, _) = read_output(&gallery);
    let flat: Vec<f32> = pool.iter().copied().collect();
    let doc =
        serde_json::json!({ "paths": ["a.png", "b.png", "c.png", "e.png"], "modality": "visible" });
    std::fs::write(
        &bare,
        vireid_eval::embeddings::encode(&flat, &flat, pool.ncols(), &doc),
    )
    .unwrap();
    let o = run(&["search", "--gallery", s(&bare), "--queries", s(&qdir)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bare.safetensors") && err.contains("--checkpoint"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "a temporary embedding was left behind"
    );
}
