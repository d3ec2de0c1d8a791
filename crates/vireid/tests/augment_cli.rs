//! `vireid augment`: the grid, the dump as the network receives it, determinism, errors.

use std::process::Command;

const PHOTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../vireid-data/tests/fixtures/photos/coffee.png"
);

fn vireid(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vireid"))
        .args(args)
        .output()
        .unwrap()
}

/// Reads a float32 C-order .npy written by ndarray-npy: header, then little-endian values.
fn read_f32_npy(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, data)
}

#[test]
fn grid_and_dump() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("grid.png");
    let dump = dir.path().join("views.npy");
    let (g, d) = (grid.to_str().unwrap(), dump.to_str().unwrap());
    let out = vireid(&[
        "augment",
        "--dataset",
        "sysu",
        "--input",
        PHOTO,
        "--n",
        "3",
        "--seed",
        "5",
        "--out",
        g,
        "--dump",
        d,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[4]["name"], "radical RLE (p=1)");
    assert!(rows[4]["views"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| !v["rrle"].is_null()));
    let img = image::open(&grid).unwrap();
    // 4 columns (original + 3 views) and 7 rows of 384 x 192 cells with 4-pixel gaps.
    assert_eq!((img.width(), img.height()), (4 * 196, 7 * 388));
    let (shape, values) = read_f32_npy(&dump);
    assert_eq!(shape, [3, 3, 384, 192]);
    assert!(values.iter().all(|v| v.is_finite()));
    // Normalised values: an image of bytes spans roughly (0 - 0.485) / 0.229 .. (1 - 0.406) / 0.225.
    assert!(
        values.iter().all(|&v| (-2.2..=2.7).contains(&v)),
        "values outside the normalised range"
    );

    // The same seed draws the same views; another seed others.
    let dump2 = dir.path().join("again.npy");
    let dump3 = dir.path().join("other.npy");
    for (seed, path) in [("5", &dump2), ("6", &dump3)] {
        let out = vireid(&[
            "augment",
            "--dataset",
            "sysu",
            "--input",
            PHOTO,
            "--n",
            "3",
            "--seed",
            seed,
            "--out",
            g,
            "--dump",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("row 5: radical RLE"));
    }
    assert_eq!(read_f32_npy(&dump2).1, values);
    assert_ne!(read_f32_npy(&dump3).1, values);
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.png");
    let out = vireid(&[
        "augment",
        "--dataset",
        "regdb",
        "--input",
        "/no/such.jpg",
        "--out",
        g.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/no/such.jpg") && !err.contains("panicked"),
        "{err}"
    );
    let out = vireid(&[
        "augment",
        "--dataset",
        "regdb",
        "--input",
        PHOTO,
        "--n",
        "0",
        "--out",
        g.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
}
