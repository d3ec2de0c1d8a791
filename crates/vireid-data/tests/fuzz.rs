//! Fuzzing that keeps bad input found: every reader of untrusted bytes is fed mutated copies
//! of a committed seed corpus (tests/fuzz-corpus, and the fixture trees' list files) and must
//! return, Ok or an error, without panicking or aborting. A short run is part of the test
//! suite; `PROPTEST_CASES=20000 cargo test --release -p vireid-data --test fuzz` is the long
//! one. proptest records any failing input in tests/fuzz.proptest-regressions, which is
//! committed and replayed first on every run.

mod common;
#[path = "common/mutate.rs"]
mod mutate;

use mutate::{apply, cases, edits};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use vireid_data::cache::ImageCache;
use vireid_data::image_io::{decode_bytes, ImageResizer};
use vireid_data::{splits, train_set, Dataset, Direction, Mode, Protocol, Shot, Size};

fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(kind);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]

    /// The .npy reader, under every element type a caller asks for, and the memory-mapped
    /// training cache.
    #[test]
    fn npy_files(pick in any::<prop::sample::Index>(), e in edits()) {
        let seeds = corpus("npy");
        let (name, seed) = &seeds[pick.index(seeds.len())];
        let bytes = apply(seed, &e);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let _ = vireid_data::npy::read::<f32, _, ndarray::IxDyn>(&path)
            .map(|a: Option<ndarray::ArrayD<f32>>| a.map(|a| a.len()));
        let _ = vireid_data::npy::read::<f64, _, ndarray::Ix2>(&path)
            .map(|a: Option<ndarray::Array2<f64>>| a.map(|a| a.len()));
        let _ = vireid_data::npy::read::<i64, _, ndarray::Ix1>(&path)
            .map(|a: Option<ndarray::Array1<i64>>| a.map(|a| a.len()));
        let _ = vireid_data::npy::read::<u8, _, ndarray::IxDyn>(&path)
            .map(|a: Option<ndarray::ArrayD<u8>>| a.map(|a| a.len()));
        // As a training cache: the mutated file as images, the labels seed beside it, and
        // the other way round.
        let images = dir.path().join("images.npy");
        let labels = dir.path().join("labels.npy");
        let seed_of = |n: &str| seeds.iter().find(|s| s.0 == n).unwrap().1.clone();
        std::fs::write(&images, &bytes).unwrap();
        std::fs::write(&labels, seed_of("labels_i4.npy")).unwrap();
        if let Ok(c) = ImageCache::open(&images, &labels) {
            for i in 0..c.len() {
                let _ = c.image(i).len();
            }
        }
        std::fs::write(&images, seed_of("images_u1.npy")).unwrap();
        std::fs::write(&labels, &bytes).unwrap();
        let _ = ImageCache::open(&images, &labels).map(|c| c.len());
    }

    /// Image decoding (JPEG, PNG, BMP; grey, palette, alpha, progressive) and the resize
    /// that follows it.
    #[test]
    fn images(pick in any::<prop::sample::Index>(), e in edits()) {
        let seeds = corpus("images");
        let (name, seed) = &seeds[pick.index(seeds.len())];
        let bytes = apply(seed, &e);
        let path = PathBuf::from(name);
        if let Ok(img) = decode_bytes(&path, &bytes) {
            let mut out = vec![0u8; Size::new(16, 8).rgb_len()];
            let _ = ImageResizer::new().resize_into(&img, Size::new(16, 8), &mut out, &path);
        }
    }
}

/// The list files (and one stray folder entry) of the three fixture layouts, mutated in a
/// copy of the tree; the training set and the protocol are then read from it.
fn lists(dataset: Dataset, tree: &str, files: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(tree);
    copy_tree(&common::fixtures().join(tree), &root);
    let originals: Vec<(PathBuf, Vec<u8>)> = files
        .iter()
        .map(|f| (root.join(f), std::fs::read(root.join(f)).unwrap()))
        .collect();
    let protocol = Protocol {
        dataset,
        mode: Mode::All,
        shot: Shot::Single,
        direction: match dataset {
            Dataset::Sysu => Direction::InfraredToVisible,
            _ => Direction::VisibleToInfrared,
        },
    };
    let trial = if dataset == Dataset::Regdb { 1 } else { 0 };
    // The untouched tree reads: the mutations are what may fail.
    train_set(dataset, &root, trial).unwrap();
    splits(&root, &protocol, &[trial]).unwrap();
    let config = ProptestConfig::with_cases(cases(150));
    let strategy = (
        any::<prop::sample::Index>(),
        edits(),
        proptest::option::of("[ -~]{1,12}"),
    );
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |(pick, e, stray)| {
            let (path, seed) = &originals[pick.index(originals.len())];
            std::fs::write(path, apply(seed, &e)).unwrap();
            // A stray entry with an arbitrary name beside the person folders.
            let stray_path = stray
                .filter(|s| !s.contains('/') && s != "." && s != "..")
                .map(|s| path.parent().unwrap().join(s));
            if let Some(p) = &stray_path {
                if !p.exists() {
                    std::fs::write(p, b"stray").unwrap();
                }
            }
            let _ = train_set(dataset, &root, trial).map(|s| s.visible.len());
            let _ = splits(&root, &protocol, &[trial]).map(|s| s.trials.len());
            std::fs::write(path, seed).unwrap();
            if let Some(p) = stray_path {
                if std::fs::read(&p).ok().as_deref() == Some(b"stray".as_slice()) {
                    std::fs::remove_file(p).unwrap();
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn sysu_lists() {
    lists(
        Dataset::Sysu,
        "sysu",
        &["exp/train_id.txt", "exp/val_id.txt", "exp/test_id.txt"],
    );
}

#[test]
fn regdb_lists() {
    lists(
        Dataset::Regdb,
        "regdb",
        &[
            "idx/train_visible_1.txt",
            "idx/train_thermal_1.txt",
            "idx/test_visible_1.txt",
            "idx/test_thermal_1.txt",
        ],
    );
}

#[test]
fn llcm_lists() {
    lists(
        Dataset::Llcm,
        "llcm",
        &["idx/train_vis.txt", "idx/train_nir.txt", "idx/test_id.txt"],
    );
}
