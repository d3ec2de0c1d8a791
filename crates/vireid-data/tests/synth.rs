//! The synthetic generator: deterministic by seed, irregular like the real data, readable by
//! every protocol, and cross-spectral (the infrared view is not the visible one in grey).

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use vireid_data::image_io::decode;
use vireid_data::synth::{generate, SynthConfig};
use vireid_data::{splits, train_set, Dataset, Protocol, Size};

fn tree_hash(root: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.strip_prefix(root).unwrap().to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    format!("{:x}", h.finalize())
}

fn make(root: &Path, dataset: Dataset, seed: u64) -> vireid_data::synth::SynthReport {
    let mut cfg = SynthConfig::new(dataset);
    cfg.seed = seed;
    cfg.ids = 24;
    cfg.size = Size::new(48, 24);
    generate(root, &cfg, &|_, _| {}).unwrap()
}

/// The protocol a user gets without flags: all-search, single-shot, the usual direction.
fn default_protocol(d: Dataset) -> Protocol {
    Protocol {
        dataset: d,
        mode: Default::default(),
        shot: Default::default(),
        direction: Protocol::default_direction(d),
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for d in [Dataset::Sysu, Dataset::Regdb, Dataset::Llcm] {
        let (a, b, c) = (
            dir.path().join(format!("{d}a")),
            dir.path().join(format!("{d}b")),
            dir.path().join(format!("{d}c")),
        );
        make(&a, d, 5);
        make(&b, d, 5);
        make(&c, d, 6);
        assert_eq!(tree_hash(&a), tree_hash(&b), "{d}: same seed");
        assert_ne!(tree_hash(&a), tree_hash(&c), "{d}: other seed");
    }
}

#[test]
fn layouts_are_complete_and_irregular() {
    let dir = tempfile::tempdir().unwrap();
    for d in [Dataset::Sysu, Dataset::Regdb, Dataset::Llcm] {
        let root = dir.path().join(d.to_string());
        let report = make(&root, d, 1);
        let set = train_set(d, &root, 1).unwrap();
        assert!(!set.visible.is_empty() && !set.thermal.is_empty(), "{d}");
        for t in Protocol::default_trials(d) {
            let p = default_protocol(d);
            let split = splits(&root, &p, &[t]).unwrap();
            let trial = &split.trials[0];
            let query = split.query_of(trial);
            let q_ids: BTreeSet<u32> = query.iter().map(|e| e.id).collect();
            let g_ids: BTreeSet<u32> = trial.gallery.iter().map(|e| e.id).collect();
            assert_eq!(
                q_ids, g_ids,
                "{d} trial {t}: every test person is in query and gallery"
            );
            assert_eq!(q_ids.len(), report.test_ids, "{d}");
        }
        if d != Dataset::Regdb {
            // People miss cameras and image counts vary, as in the real data.
            let p = default_protocol(d);
            let split = splits(&root, &p, &[0]).unwrap();
            let mut per_id: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
            let mut per_group: BTreeMap<(u32, u32), usize> = BTreeMap::new();
            for e in split.query.as_ref().unwrap() {
                per_id.entry(e.id).or_default().insert(e.cam);
                *per_group.entry((e.id, e.cam)).or_default() += 1;
            }
            let cams: BTreeSet<usize> = per_id.values().map(BTreeSet::len).collect();
            assert!(
                cams.len() > 1,
                "{d}: every person in the same number of cameras"
            );
            let counts: BTreeSet<usize> = per_group.values().copied().collect();
            assert!(counts.len() > 3, "{d}: image counts do not vary");
        }
    }
}

#[test]
fn regdb_thermal_is_single_channel_and_views_differ_across_spectra() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("regdb");
    make(&root, Dataset::Regdb, 2);
    let set = train_set(Dataset::Regdb, &root, 1).unwrap();
    // 8 bits per pixel with a grey palette: what Pillow opens as an `L` image, like RegDB's.
    let bmp = std::fs::read(root.join(&set.thermal[0].path)).unwrap();
    assert_eq!(&bmp[..2], b"BM");
    assert_eq!(u16::from_le_bytes([bmp[28], bmp[29]]), 8, "bits per pixel");
    let visible = decode(&root.join(&set.visible[0].path)).unwrap();
    assert_eq!(visible.color(), image::ColorType::Rgb8);

    // The infrared view is no fixed grey conversion of the visible one: across people, the
    // best single linear map from visible RGB to infrared intensity leaves most variance
    // unexplained, because each material has its own response.
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for (v, t) in set.visible.iter().zip(&set.thermal).step_by(10) {
        let v = decode(&root.join(&v.path)).unwrap().into_rgb8();
        let t = decode(&root.join(&t.path)).unwrap().into_luma8();
        // Centre pixel of the torso: the same material in both views whatever the pose.
        let (x, y) = (v.width() / 2, v.height() * 3 / 10);
        let p = v.get_pixel(x, y).0;
        xs.push([f64::from(p[0]), f64::from(p[1]), f64::from(p[2]), 1.0]);
        ys.push(f64::from(t.get_pixel(x, y).0[0]));
    }
    let r2 = linear_fit_r2(&xs, &ys);
    assert!(
        r2 < 0.8,
        "infrared is too close to a linear function of RGB (R^2 = {r2:.3})"
    );
}

/// R^2 of the least-squares fit y ~ x (normal equations, 4 unknowns).
fn linear_fit_r2(xs: &[[f64; 4]], ys: &[f64]) -> f64 {
    let mut a = [[0.0; 5]; 4];
    for (x, &y) in xs.iter().zip(ys) {
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] += x[i] * x[j];
            }
            a[i][4] += x[i] * y;
        }
    }
    for i in 0..4 {
        a[i][i] += 1e-6;
        let piv = a[i][i];
        for v in a[i].iter_mut() {
            *v /= piv;
        }
        for k in 0..4 {
            if k != i {
                let f = a[k][i];
                let row = a[i];
                for (v, r) in a[k].iter_mut().zip(row) {
                    *v -= f * r;
                }
            }
        }
    }
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for (x, &y) in xs.iter().zip(ys) {
        let pred: f64 = (0..4).map(|i| a[i][4] * x[i]).sum();
        ss_res += (y - pred).powi(2);
        ss_tot += (y - mean).powi(2);
    }
    1.0 - ss_res / ss_tot
}

#[test]
fn the_test_can_hold_a_chosen_number_of_people() {
    let dir = tempfile::tempdir().unwrap();
    for d in [Dataset::Sysu, Dataset::Llcm] {
        let root = dir.path().join(d.to_string());
        let mut cfg = SynthConfig::new(d);
        cfg.ids = 30;
        cfg.test_ids = Some(7);
        cfg.size = Size::new(48, 24);
        let report = generate(&root, &cfg, &|_, _| {}).unwrap();
        assert_eq!((report.test_ids, report.train_ids), (7, 23), "{d}");
        let p = default_protocol(d);
        let split = splits(&root, &p, &[0]).unwrap();
        let test: BTreeSet<u32> = split
            .query_of(&split.trials[0])
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(test.len(), 7, "{d}");
        let train: BTreeSet<i64> = train_set(d, &root, 1)
            .unwrap()
            .visible
            .iter()
            .map(|e| e.label)
            .collect();
        assert_eq!(train.len(), 23, "{d}");

        // No test person, or fewer than two to train on: refused.
        for bad in [0, 29, 40] {
            cfg.test_ids = Some(bad);
            let err = generate(&dir.path().join("bad"), &cfg, &|_, _| {}).unwrap_err();
            assert!(err.to_string().contains("test identities"), "{bad}: {err}");
        }
    }
    // RegDB's trials split half and half: a chosen number is refused, not ignored.
    let mut cfg = SynthConfig::new(Dataset::Regdb);
    cfg.test_ids = Some(10);
    let err = generate(&dir.path().join("regdb"), &cfg, &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("half and half"), "{err}");
}

#[test]
fn bad_settings_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("out");
    type Setting = (&'static str, fn(&mut SynthConfig));
    let settings: [Setting; 6] = [
        ("noise", |c| c.noise = f32::NAN),
        ("noise", |c| c.noise = -0.1),
        ("height", |c| c.size = Size::new(0, 64)),
        ("width", |c| c.size = Size::new(128, 100_000)),
        ("images per camera", |c| c.images_per_camera = (3, 2)),
        ("identities", |c| c.ids = 2),
    ];
    for (what, set) in settings {
        let mut cfg = SynthConfig::new(Dataset::Sysu);
        set(&mut cfg);
        let err = generate(&root, &cfg, &|_, _| {}).unwrap_err().to_string();
        assert!(err.contains(what), "{what}: {err}");
        assert!(!root.exists(), "{what}: something was written");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{what}");
    }
}

#[test]
fn an_occupied_folder_is_never_mixed_into() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let first = make(&root, Dataset::Sysu, 0);
    let before = tree_hash(&root);
    // A second dataset into the same folder: refused, the first left as it was.
    let mut cfg = SynthConfig::new(Dataset::Sysu);
    cfg.ids = 30;
    cfg.size = Size::new(48, 24);
    let err = generate(&root, &cfg, &|_, _| {}).unwrap_err().to_string();
    assert!(err.contains("--replace"), "{err}");
    assert_eq!(tree_hash(&root), before);
    // Asked to replace: the new dataset alone, as if written into a fresh folder.
    cfg.replace = true;
    let second = generate(&root, &cfg, &|_, _| {}).unwrap();
    assert_eq!(second.ids, 30);
    assert_ne!(second.ids, first.ids);
    let fresh = dir.path().join("fresh");
    generate(&fresh, &cfg, &|_, _| {}).unwrap();
    assert_eq!(tree_hash(&root), tree_hash(&fresh));
    // A folder of other files is never replaced, even when asked.
    let other = dir.path().join("photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("holiday.jpg"), b"not ours").unwrap();
    let err = generate(&other, &cfg, &|_, _| {}).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    assert!(other.join("holiday.jpg").exists());
}

#[test]
fn what_a_killed_run_left_is_cleaned_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    // A killed run leaves its staging folder beside the destination, never the destination.
    let staging = dir.path().join(".data.synth-partial");
    std::fs::create_dir_all(staging.join("cam1/0001")).unwrap();
    std::fs::write(staging.join("cam1/0001/0001.jpg"), b"half").unwrap();
    make(&root, Dataset::Regdb, 0);
    assert!(!staging.exists());
    let fresh = dir.path().join("fresh");
    make(&fresh, Dataset::Regdb, 0);
    assert_eq!(tree_hash(&root), tree_hash(&fresh));
}
