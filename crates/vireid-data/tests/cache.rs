//! The .npy training cache: readable by numpy as the reference's loader reads it, equal to
//! decoding each image, a no-op when up to date, never mistaken for complete when partial.

mod common;
use std::path::Path;
use vireid_data::cache::{prepare, CachePaths, ImageCache};
use vireid_data::image_io::load_resized;
use vireid_data::synth::{generate, SynthConfig};
use vireid_data::{sysu, Dataset, Size};

const SIZE: Size = Size::new(96, 48);

fn synth_sysu(root: &Path) {
    let mut cfg = SynthConfig::new(Dataset::Sysu);
    cfg.ids = 12;
    cfg.size = Size::new(64, 32);
    cfg.images_per_camera = (1, 3);
    generate(root, &cfg, &|_, _| {}).unwrap();
}

fn build(root: &Path, size: Size) -> vireid_data::cache::PrepareReport {
    let set = sysu::train_set(root).unwrap();
    let paths = CachePaths::new(root, Dataset::Sysu, 0, size);
    prepare(root, &set, Dataset::Sysu, &paths, size, &|_| {}).unwrap()
}

#[test]
fn reference_file_names_at_the_paper_size() {
    let p = CachePaths::new(Path::new("/d"), Dataset::Sysu, 0, Size::REFERENCE);
    assert_eq!(
        p.visible_images,
        Path::new("/d/train_rgb_resized_img192.npy")
    );
    assert_eq!(
        p.visible_labels,
        Path::new("/d/train_rgb_resized_label192.npy")
    );
    assert_eq!(
        p.thermal_images,
        Path::new("/d/train_ir_resized_img192.npy")
    );
    assert_eq!(
        p.thermal_labels,
        Path::new("/d/train_ir_resized_label192.npy")
    );
    let p = CachePaths::new(Path::new("/d"), Dataset::Regdb, 3, SIZE);
    assert_eq!(
        p.thermal_images,
        Path::new("/d/regdb_trial3_train_ir_resized_img96x48.npy")
    );
}

#[test]
fn numpy_reads_the_cache_and_it_equals_decoding_each_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    synth_sysu(root);
    let report = build(root, SIZE);
    assert!(!report.up_to_date);
    let set = sysu::train_set(root).unwrap();
    let paths = CachePaths::new(root, Dataset::Sysu, 0, SIZE);

    // numpy sees what the reference's SYSUData expects.
    let script = r#"
import sys, numpy as np
img, lab = np.load(sys.argv[1]), np.load(sys.argv[2])
print(img.dtype, img.shape, lab.dtype, lab.shape, int(img.astype(np.int64).sum()), ",".join(map(str, lab.tolist())))
"#;
    for (items, img, lab) in [
        (&set.visible, &paths.visible_images, &paths.visible_labels),
        (&set.thermal, &paths.thermal_images, &paths.thermal_labels),
    ] {
        let out =
            common::run_python_with_libs(script, &[img.to_str().unwrap(), lab.to_str().unwrap()]);
        let fields: Vec<&str> = out.split_whitespace().collect();
        let n = items.len();
        assert_eq!(fields[0], "uint8");
        assert_eq!(fields[1..5].join(" "), format!("({n}, 96, 48, 3)"));
        assert_eq!(fields[5], "int64");
        let labels: Vec<String> = items.iter().map(|i| i.label.to_string()).collect();
        assert_eq!(fields[8], labels.join(","));

        let cache = ImageCache::open(img, lab).unwrap();
        let mut total = 0i64;
        for (i, item) in items.iter().enumerate() {
            let want = load_resized(&root.join(&item.path), SIZE).unwrap();
            assert_eq!(
                cache.image(i),
                &want[..],
                "image {i} ({})",
                item.path.display()
            );
            total += want.iter().map(|&v| i64::from(v)).sum::<i64>();
        }
        assert_eq!(fields[7], total.to_string());
    }
}

#[test]
fn rerun_is_a_no_op_and_partial_caches_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    synth_sysu(root);
    build(root, SIZE);
    let paths = CachePaths::new(root, Dataset::Sysu, 0, SIZE);
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&paths.visible_images);
    assert!(build(root, SIZE).up_to_date);
    assert_eq!(
        mtime(&paths.visible_images),
        before,
        "an up-to-date cache is not rewritten"
    );

    // A killed run: images written, manifest never written.
    std::fs::remove_file(&paths.manifest).unwrap();
    assert!(!build(root, SIZE).up_to_date);
    assert!(build(root, SIZE).up_to_date);

    // A truncated image file under a manifest that still matches.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&paths.thermal_images)
        .unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    assert!(!build(root, SIZE).up_to_date);
    assert!(ImageCache::open(&paths.thermal_images, &paths.thermal_labels).is_ok());

    // Changed inputs.
    let set = sysu::train_set(root).unwrap();
    let first = root.join(&set.visible[0].path);
    let other = root.join(&set.visible[set.visible.len() - 1].path);
    std::fs::copy(&other, &first).unwrap();
    assert!(!build(root, SIZE).up_to_date);

    // Another size is another cache.
    assert!(!build(root, Size::new(64, 32)).up_to_date);
    assert!(build(root, SIZE).up_to_date);
    let leftovers: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn a_corrupt_image_fails_naming_it_and_leaves_no_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    synth_sysu(root);
    let set = sysu::train_set(root).unwrap();
    let victim = root.join(&set.thermal[1].path);
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 3]).unwrap();
    let paths = CachePaths::new(root, Dataset::Sysu, 0, SIZE);
    let err = prepare(root, &set, Dataset::Sysu, &paths, SIZE, &|_| {}).unwrap_err();
    assert!(
        err.to_string().contains(&victim.display().to_string()),
        "{err}"
    );
    assert!(!paths.manifest.exists());
    assert!(!paths.thermal_images.exists());
}

#[test]
fn reads_caches_written_by_numpy_and_rejects_wrong_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
img = rng.integers(0, 256, size=(5, 8, 4, 3), dtype=np.uint8)
np.save(d + "/img.npy", img)
np.save(d + "/lab64.npy", np.array([3, 1, 4, 1, 5]))
np.save(d + "/lab32.npy", np.array([3, 1, 4, 1, 5], dtype=np.int32))
np.save(d + "/short.npy", np.array([3, 1]))
np.save(d + "/float.npy", img.astype(np.float32))
np.save(d + "/gray.npy", img[..., 0])
print(",".join(map(str, img[2].reshape(-1).tolist())))
"#;
    let out = common::run_python_with_libs(script, &[d.to_str().unwrap()]);
    let want: Vec<u8> = out.trim().split(',').map(|v| v.parse().unwrap()).collect();
    let c = ImageCache::open(&d.join("img.npy"), &d.join("lab64.npy")).unwrap();
    assert_eq!((c.len(), c.size()), (5, Size::new(8, 4)));
    assert_eq!(c.image(2), &want[..]);
    assert_eq!(c.labels(), [3, 1, 4, 1, 5]);
    let c = ImageCache::open(&d.join("img.npy"), &d.join("lab32.npy")).unwrap();
    assert_eq!(c.labels(), [3, 1, 4, 1, 5]);
    for (img, lab, says) in [
        ("img.npy", "short.npy", "expected 5 labels"),
        ("float.npy", "lab64.npy", "uint8"),
        ("gray.npy", "lab64.npy", "uint8 N x H x W x 3"),
        ("missing.npy", "lab64.npy", "missing.npy"),
        ("img.npy", "img.npy", "label array"),
    ] {
        let err = ImageCache::open(&d.join(img), &d.join(lab))
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{img} + {lab}: {err}");
    }
}

/// Files in `root` itself (not its camera folders).
fn top_files(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failed_or_killed_prepare_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    synth_sysu(root);
    let clean = top_files(root);
    let set = sysu::train_set(root).unwrap();
    // A size with a zero side: refused before anything is written.
    let zero = Size::new(0, 24);
    let paths = CachePaths::new(root, Dataset::Sysu, 0, zero);
    let err = prepare(root, &set, Dataset::Sysu, &paths, zero, &|_| {}).unwrap_err();
    assert!(err.to_string().contains("at least one pixel"), "{err}");
    assert_eq!(top_files(root), clean);
    // A corrupt infrared image: the visible cache written before it is removed too.
    let bad = root.join(&set.thermal[1].path);
    std::fs::write(&bad, b"\xff\xd8 not a jpeg").unwrap();
    let paths = CachePaths::new(root, Dataset::Sysu, 0, SIZE);
    let err = prepare(root, &set, Dataset::Sysu, &paths, SIZE, &|_| {}).unwrap_err();
    assert!(err.to_string().contains(&*bad.to_string_lossy()), "{err}");
    assert_eq!(top_files(root), clean);
    // What a killed run leaves (temporaries of a process that is gone) goes with the next.
    let gone = u32::MAX - 1;
    let stale = root.join(format!("train_rgb_resized_img96x48.npy.{gone}.tmp"));
    std::fs::write(&stale, vec![0u8; 1000]).unwrap();
    // Process 1 always runs.
    let ours = root.join("train_rgb_resized_img96x48.npy.1.tmp");
    std::fs::write(&ours, b"a live process's file").unwrap();
    synth_sysu(&dir.path().join("unused"));
    std::fs::copy(dir.path().join("unused").join(&set.thermal[1].path), &bad).unwrap();
    build(root, SIZE);
    assert!(!stale.exists(), "the dead process's temporary stays");
    assert!(ours.exists(), "a live process's temporary was removed");
}
