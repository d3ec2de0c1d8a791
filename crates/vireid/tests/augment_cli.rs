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

/// Peak resident memory (KB) of the largest child this test process has waited for.
fn children_peak_kb() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init().ru_maxrss
    }
}

#[test]
fn many_views_stay_bounded_in_memory_and_in_the_picture() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.png");
    let d = dir.path().join("d.npy");
    let (gs, ds) = (g.to_str().unwrap(), d.to_str().unwrap());
    let base = [
        "augment",
        "--dataset",
        "sysu",
        "--input",
        PHOTO,
        "--out",
        gs,
    ];
    // Absurd counts are refused at once, naming the flag; nothing is written.
    for n in ["100000000", "0"] {
        let out = vireid(&[&base[..], &["--n", n, "--dump", ds]].concat());
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--n"), "{err}");
        assert!(!g.exists() && !d.exists());
    }
    // More views than a grid shows, without a dump to put them in: refused.
    let out = vireid(&[&base[..], &["--n", "400"]].concat());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dump"));
    // 1,000 views: 885 MB of dump, streamed; the grid shows 16 of them.
    let out = vireid(&[&base[..], &["--n", "1000", "--dump", ds]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&g).unwrap();
    assert_eq!((img.width(), img.height()), (17 * 196, 7 * 388));
    let len = std::fs::metadata(&d).unwrap().len();
    assert_eq!(len, 128 + 1000 * 3 * 384 * 192 * 4);
    let peak_mb = children_peak_kb() / 1024;
    assert!(
        peak_mb < 800,
        "peak memory {peak_mb} MB: the dump was held in memory"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
