//! Bad input gets one clear error naming the file (and line) and what was expected.

mod common;
use std::path::{Path, PathBuf};
use vireid_data::image_io::{decode, load_resized};
use vireid_data::{splits, train_set, Dataset, Direction, Mode, Protocol, Shot, Size};

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(name);
    std::fs::create_dir_all(&root).unwrap();
    copy_tree(&common::fixtures().join(name), &root);
    (dir, root)
}

fn protocol(dataset: Dataset) -> Protocol {
    Protocol {
        dataset,
        mode: Mode::All,
        shot: Shot::Single,
        direction: Protocol::default_direction(dataset),
    }
}

fn split_err(root: &Path, p: &Protocol) -> String {
    splits(root, p, &Protocol::default_trials(p.dataset)[..2])
        .unwrap_err()
        .to_string()
}

fn assert_says(err: &str, parts: &[&str]) {
    for part in parts {
        assert!(err.contains(part), "error {err:?} should mention {part:?}");
    }
}

#[test]
fn missing_root() {
    for d in [Dataset::Sysu, Dataset::Regdb, Dataset::Llcm] {
        let err = split_err(Path::new("/no/such/root"), &protocol(d));
        assert_says(&err, &["/no/such/root", "does not exist"]);
        let err = train_set(d, Path::new("/no/such/root"), 1)
            .unwrap_err()
            .to_string();
        assert_says(&err, &["/no/such/root"]);
    }
}

#[test]
fn missing_camera_and_idx_folders() {
    let (_d, root) = fixture_copy("sysu");
    std::fs::remove_dir_all(root.join("cam5")).unwrap();
    assert_says(
        &split_err(&root, &protocol(Dataset::Sysu)),
        &["camera folder", "cam5", "missing"],
    );
    let (_d, root) = fixture_copy("llcm");
    std::fs::remove_dir_all(root.join("test_nir/cam7")).unwrap();
    assert_says(
        &split_err(&root, &protocol(Dataset::Llcm)),
        &["test_nir/cam7", "missing"],
    );
    let (_d, root) = fixture_copy("regdb");
    std::fs::remove_dir_all(root.join("idx")).unwrap();
    assert_says(
        &split_err(&root, &protocol(Dataset::Regdb)),
        &["idx", "missing"],
    );
}

#[test]
fn bad_id_lists() {
    let (_d, root) = fixture_copy("sysu");
    let list = root.join("exp/test_id.txt");
    std::fs::write(&list, "").unwrap();
    assert_says(
        &split_err(&root, &protocol(Dataset::Sysu)),
        &["test_id.txt", "line 1", "comma-separated"],
    );
    std::fs::write(&list, "2 7 13\n").unwrap();
    assert_says(
        &split_err(&root, &protocol(Dataset::Sysu)),
        &["test_id.txt", "line 1", "\"2 7 13\""],
    );
    std::fs::write(&list, "2,7,x13\n").unwrap();
    assert_says(
        &split_err(&root, &protocol(Dataset::Sysu)),
        &["test_id.txt", "integer", "x13"],
    );
    std::fs::remove_file(root.join("exp/val_id.txt")).unwrap();
    let err = train_set(Dataset::Sysu, &root, 0).unwrap_err().to_string();
    assert_says(&err, &["val_id.txt", "missing"]);
}

#[test]
fn bad_index_lists() {
    let (_d, root) = fixture_copy("regdb");
    let list = root.join("idx/test_thermal_2.txt");
    let text = std::fs::read_to_string(&list).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let path_only = lines[3].split(' ').next().unwrap().to_string();
    lines[3] = path_only;
    std::fs::write(&list, lines.join("\n")).unwrap();
    let p = protocol(Dataset::Regdb);
    let err = splits(&root, &p, &[2]).unwrap_err().to_string();
    assert_says(&err, &["test_thermal_2.txt", "line 4", "no label"]);

    lines[3] = "Thermal/male/9999_t_0.bmp 5".into();
    std::fs::write(&list, lines.join("\n")).unwrap();
    let err = splits(&root, &p, &[2]).unwrap_err().to_string();
    assert_says(
        &err,
        &[
            "test_thermal_2.txt",
            "line 4",
            "9999_t_0.bmp",
            "does not exist",
        ],
    );

    lines[3] = format!("{} five", lines[2].split(' ').next().unwrap());
    std::fs::write(&list, lines.join("\n")).unwrap();
    let err = splits(&root, &p, &[2]).unwrap_err().to_string();
    assert_says(&err, &["line 4", "integer label", "five"]);

    std::fs::write(root.join("idx/train_visible_1.txt"), "\n\n").unwrap();
    let err = train_set(Dataset::Regdb, &root, 1).unwrap_err().to_string();
    assert_says(&err, &["train_visible_1.txt", "found none"]);
    let err = train_set(Dataset::Regdb, &root, 7).unwrap_err().to_string();
    assert_says(&err, &["train_visible_7.txt", "missing"]);
}

#[test]
fn impossible_protocols() {
    let sysu = common::fixtures().join("sysu");
    let mut p = protocol(Dataset::Sysu);
    p.direction = Direction::VisibleToInfrared;
    assert_says(&split_err(&sysu, &p), &["infrared queries"]);
    let regdb = common::fixtures().join("regdb");
    let mut p = protocol(Dataset::Regdb);
    assert_says(
        &splits(&regdb, &p, &[11]).unwrap_err().to_string(),
        &["1..10", "11"],
    );
    p.shot = Shot::Multi;
    assert_says(&split_err(&regdb, &p), &["multi-shot"]);
    assert!("cuhk"
        .parse::<Dataset>()
        .unwrap_err()
        .to_string()
        .contains("sysu, regdb or llcm"));
    assert!("x2y".parse::<Direction>().is_err());
}

#[test]
fn a_training_id_without_infrared_images() {
    let (_d, root) = fixture_copy("sysu");
    std::fs::remove_dir_all(root.join("cam6/0009")).unwrap();
    let err = train_set(Dataset::Sysu, &root, 0).unwrap_err().to_string();
    assert_says(&err, &["0009", "no infrared images"]);
}

#[test]
fn corrupt_truncated_and_foreign_images() {
    let dir = tempfile::tempdir().unwrap();
    let photos = common::fixtures().join("photos");
    let cases: Vec<(&str, Vec<u8>, &str)> = {
        let jpg = std::fs::read(photos.join("astronaut.jpg")).unwrap();
        let png = std::fs::read(photos.join("coffee.png")).unwrap();
        let bmp = std::fs::read(photos.join("astronaut_small.bmp")).unwrap();
        let mut garbled = jpg.clone();
        for b in garbled.iter_mut().skip(20).take(400) {
            *b = 0x5A;
        }
        vec![
            ("truncated.jpg", jpg[..jpg.len() / 2].to_vec(), "truncated"),
            (
                "truncated.png",
                png[..png.len() / 2].to_vec(),
                "truncated.png",
            ),
            (
                "truncated.bmp",
                bmp[..bmp.len() / 2].to_vec(),
                "truncated.bmp",
            ),
            ("garbled.jpg", garbled, "garbled.jpg"),
            (
                "text.jpg",
                b"not an image at all".to_vec(),
                "not a JPEG, PNG or BMP",
            ),
            ("empty.png", Vec::new(), "empty.png"),
        ]
    };
    for (name, bytes, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = load_resized(&path, Size::new(32, 16))
            .unwrap_err()
            .to_string();
        assert_says(&err, &[name, says]);
    }
    assert_says(
        &decode(&dir.path().join("absent.jpg"))
            .unwrap_err()
            .to_string(),
        &["absent.jpg"],
    );
}

/// A 24-bit BMP whose header claims `width x height` pixels, followed by `data` bytes.
fn bmp_claiming(width: i32, height: i32, data: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&((54 + data) as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&width.to_le_bytes());
    b.extend_from_slice(&height.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b.extend(std::iter::repeat_n(0x80u8, data));
    b
}

#[test]
fn an_image_header_claiming_a_huge_size_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.bmp");
    // 60,000 x 60,000 pixels claimed (3.6 billion: 10.8 GB of RGB), 300 bytes held.
    std::fs::write(&bomb, bmp_claiming(60_000, 60_000, 300)).unwrap();
    let err = decode(&bomb).unwrap_err().to_string();
    assert_says(&err, &["bomb.bmp", "decompression-bomb"]);
    let err = load_resized(&bomb, Size::new(64, 32))
        .unwrap_err()
        .to_string();
    assert_says(&err, &["bomb.bmp"]);
    // The same header at a real size decodes.
    let fine = dir.path().join("fine.bmp");
    std::fs::write(&fine, bmp_claiming(4, 2, 4 * 2 * 3)).unwrap();
    assert_eq!(decode(&fine).unwrap().width(), 4);
}
