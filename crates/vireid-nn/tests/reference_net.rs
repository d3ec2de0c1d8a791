//! Features of reference-format checkpoints against PyTorch: the oracle script writes a
//! checkpoint in the reference's format (every key of its embed_net, random weights and
//! BatchNorm statistics) and the features of PyTorch's forward; ours must equal them within
//! 1e-4 for both modalities, both widths (SYSU 2048 / RegDB 1024), with and without flip.

mod common;
use common::python;

use ndarray::{Array2, Array4};
use ndarray_npy::read_npy;
use std::path::Path;
use std::process::Command;
use tch::Device;
use vireid_nn::features::{extract, ExtractOptions, Geometry};
use vireid_nn::{weights, Modality};

fn oracle(dir: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/reference_net.py");
    let out = Command::new(python())
        .arg(script)
        .arg("--out")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(args: &[&str], depth: &str, layer4: bool, width: usize) {
    let dir = tempfile::tempdir().unwrap();
    oracle(dir.path(), args);
    let (_vs, net, ignored) =
        weights::load_network(&dir.path().join("ref.t"), Device::Cpu).unwrap();
    assert_eq!(net.config.depth.name(), depth);
    assert_eq!(net.config.layer4, layer4);
    assert_eq!(net.config.classes, 7);
    assert_eq!(net.config.feature_dim() as usize, 4 * width);
    assert!(ignored.iter().any(|k| k.starts_with("middle_module.")));
    let input: Array4<f32> = read_npy(dir.path().join("input.npy")).unwrap();
    let (n, c, h, w) = input.dim();
    let geometry = Geometry {
        channels: c,
        height: h,
        width: w,
    };
    let flat = input
        .as_standard_layout()
        .to_owned()
        .into_raw_vec_and_offset()
        .0;
    for modality in [Modality::Visible, Modality::Thermal] {
        for flip in [false, true] {
            // batch 2 over 3 images: a partial last batch too
            let options = ExtractOptions {
                device: Device::Cpu,
                modality,
                flip,
                batch: 2,
            };
            let got = extract(&net, &flat, geometry, &options, |_| {}).unwrap();
            assert_eq!(got.rows(), n);
            let name = if modality == Modality::Visible {
                "visible"
            } else {
                "thermal"
            };
            for (which, ours) in [("pool", &got.pool), ("bn", &got.bn)] {
                let file = format!("{name}_{}_{which}.npy", flip as u8);
                let want: Array2<f32> = read_npy(dir.path().join(&file)).unwrap();
                assert_eq!(want.dim(), (n, 4 * width), "{file}");
                let diff = want
                    .iter()
                    .zip(ours.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                eprintln!("{depth} {file}: max abs difference {diff:e}");
                assert!(diff <= 1e-4, "{depth} {file}: max abs difference {diff}");
                // the features are not trivially equal (e.g. all zero)
                let spread = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(spread > 1e-3, "{file}: degenerate oracle output");
            }
        }
    }
}

#[test]
fn resnet50_sysu_width_2048() {
    check(
        &["--depth", "50", "--dataset", "sysu"],
        "resnet50",
        true,
        2048,
    );
}

#[test]
fn resnet50_regdb_width_1024_without_layer4() {
    check(
        &["--depth", "50", "--dataset", "regdb", "--height", "96"],
        "resnet50",
        false,
        1024,
    );
}

#[test]
fn resnet18_and_34() {
    check(
        &["--depth", "18", "--dataset", "sysu"],
        "resnet18",
        true,
        512,
    );
    check(
        &["--depth", "34", "--dataset", "regdb", "--height", "100"],
        "resnet34",
        false,
        256,
    );
}
