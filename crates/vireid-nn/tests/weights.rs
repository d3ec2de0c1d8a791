//! Weights in and out: ImageNet import into both stems and the shared layers, our safetensors
//! round trip with the architecture read back from the shapes, and every bad file named.

mod common;
use common::python;

use std::path::Path;
use std::process::Command;
use tch::nn::VarStore;
use tch::{Device, Tensor};
use vireid_nn::network::part_net;
use vireid_nn::{weights, Depth, NetConfig, NnError};

fn oracle(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/reference_net.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size()
        && a.to_kind(tch::Kind::Float)
            .equal(&b.to_kind(tch::Kind::Float))
}

#[test]
fn imagenet_weights_go_into_both_stems_and_the_shared_layers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resnet18-imagenet.pth");
    oracle(&[
        "--out",
        dir.path().to_str().unwrap(),
        "--depth",
        "18",
        "--torchvision",
        file.to_str().unwrap(),
    ]);
    let src = weights::read(&file).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let config = NetConfig {
        depth: Depth::R18,
        layer4: true,
        classes: 5,
    };
    let _net = part_net(&vs.root(), config);
    let heads_before = vs.variables()["classifier1.weight"].copy();
    let copied = weights::load_imagenet(&vs, &src).unwrap();
    let vars = vs.variables();
    assert_eq!(copied, vars.len() - weights::head_keys().len());
    for stem in ["visible_module.visible", "thermal_module.thermal"] {
        for key in ["conv1.weight", "bn1.weight", "bn1.running_var"] {
            assert!(
                same(&vars[&format!("{stem}.{key}")], &src.tensors[key]),
                "{stem}.{key}"
            );
        }
    }
    for key in [
        "layer1.0.conv1.weight",
        "layer4.1.bn2.running_mean",
        "layer2.0.downsample.0.weight",
    ] {
        assert!(
            same(&vars[&format!("base_resnet.base.{key}")], &src.tensors[key]),
            "{key}"
        );
    }
    assert!(
        same(&vars["classifier1.weight"], &heads_before),
        "heads keep their initialisation"
    );

    // A backbone of another depth: every mis-shaped tensor named, with both shapes.
    let vs50 = VarStore::new(Device::Cpu);
    let _ = part_net(
        &vs50.root(),
        NetConfig {
            depth: Depth::R50,
            layer4: true,
            classes: 5,
        },
    );
    match weights::load_imagenet(&vs50, &src) {
        Err(NnError::Mismatch { problems, .. }) => {
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("layer1.0.conv1.weight") && p.contains("[64, 64, 1, 1]")),
                "{problems:?}"
            );
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("missing layer1.0.conv3.weight")),
                "{problems:?}"
            );
        }
        other => panic!("expected a mismatch, got {:?}", other.err()),
    }
    // Passed as a network checkpoint, it is recognised and the right flag suggested.
    let err = weights::read(&file)
        .unwrap()
        .net_config()
        .unwrap_err()
        .to_string();
    assert!(err.contains("--pretrained"), "{err}");
}

#[test]
fn safetensors_round_trip_keeps_weights_and_architecture() {
    let dir = tempfile::tempdir().unwrap();
    for config in [
        NetConfig {
            depth: Depth::R18,
            layer4: true,
            classes: 3,
        },
        NetConfig {
            depth: Depth::R34,
            layer4: false,
            classes: 4,
        },
        NetConfig {
            depth: Depth::R50,
            layer4: false,
            classes: 6,
        },
    ] {
        let vs = VarStore::new(Device::Cpu);
        let net = part_net(&vs.root(), config).channels_last(&vs);
        let path = dir
            .path()
            .join(format!("{}.safetensors", config.depth.name()));
        weights::save(&vs, &path).unwrap();
        let (vs2, net2, ignored) = weights::load_network(&path, Device::Cpu).unwrap();
        assert_eq!(net2.config, config);
        assert!(ignored.is_empty());
        let (a, b) = (vs.variables(), vs2.variables());
        assert_eq!(a.len(), b.len());
        for (k, v) in &a {
            assert!(same(v, &b[k]), "{k}");
        }
        // and the same features
        let x = Tensor::randn([2, 3, 64, 32], (tch::Kind::Float, Device::Cpu));
        let (p1, _) = tch::no_grad(|| net.forward_eval(&x, vireid_nn::Modality::Thermal));
        let (p2, _) = tch::no_grad(|| net2.forward_eval(&x, vireid_nn::Modality::Thermal));
        assert!(p1.allclose(&p2, 1e-6, 1e-6, false));
    }
}

#[test]
fn bad_files_get_one_clear_error_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    oracle(&["--out", d.to_str().unwrap(), "--depth", "18", "--n", "1"]);
    let good = d.join("ref.t");
    let bytes = std::fs::read(&good).unwrap();

    let truncated = d.join("truncated.t");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = weights::load_network(&truncated, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated.t"), "{err}");

    let text = d.join("notes.t");
    std::fs::write(&text, "these are not weights\n").unwrap();
    let err = weights::load_network(&text, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("notes.t") && err.contains("not a checkpoint"),
        "{err}"
    );

    let empty = d.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let err = weights::load_network(&empty, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty"), "{err}");

    let missing = d.join("nowhere.t");
    let err = weights::load_network(&missing, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nowhere.t"), "{err}");

    // A checkpoint whose heads disagree with its backbone: named, with both shapes.
    let mut w = weights::read(&good).unwrap();
    w.tensors.insert(
        "classifier2.weight".into(),
        Tensor::zeros([9, 512], (tch::Kind::Float, Device::Cpu)),
    );
    w.tensors.insert(
        "bottleneckg.running_var".into(),
        Tensor::ones([256], (tch::Kind::Float, Device::Cpu)),
    );
    let config = w.net_config().unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _ = part_net(&vs.root(), config);
    match weights::load_into(&vs, &w, &config) {
        Err(NnError::Mismatch { problems, .. }) => {
            assert!(
                problems
                    .iter()
                    .any(|p| p
                        .contains("classifier2.weight: expected shape [7, 512], found [9, 512]")),
                "{problems:?}"
            );
            assert!(
                problems
                    .iter()
                    .any(|p| p
                        .contains("bottleneckg.running_var: expected shape [512], found [256]")),
                "{problems:?}"
            );
        }
        other => panic!("expected a mismatch, got {:?}", other.err()),
    }
    // A tensor nobody knows is not silently dropped.
    let mut w = weights::read(&good).unwrap();
    w.tensors.insert(
        "attention.weight".into(),
        Tensor::zeros([3], (tch::Kind::Float, Device::Cpu)),
    );
    let err = weights::load_into(&vs, &w, &config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unexpected attention.weight"), "{err}");
}

#[test]
fn cuda_on_a_machine_without_it_is_refused_plainly() {
    if tch::Cuda::is_available() {
        return;
    }
    for spec in ["cuda", "cuda:1"] {
        let err = vireid_nn::parse_device(spec).unwrap_err().to_string();
        assert!(err.contains("CUDA is not available"), "{err}");
    }
    let err = vireid_nn::parse_device("tpu").unwrap_err().to_string();
    assert!(err.contains("expected auto, cpu, cuda or cuda:K"), "{err}");
    assert_eq!(vireid_nn::parse_device("cpu").unwrap(), Device::Cpu);
}

#[test]
fn auto_is_the_first_gpu_when_there_is_one_else_the_cpu() {
    let expected = if tch::Cuda::device_count() > 0 {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    assert_eq!(vireid_nn::parse_device("auto").unwrap(), expected);
}

/// A ResNet-18 part network of 4 classes, as the reference initialises it.
fn small_network() -> (VarStore, vireid_nn::PartNet) {
    let vs = VarStore::new(Device::Cpu);
    let config = NetConfig {
        depth: Depth::R18,
        layer4: true,
        classes: 4,
    };
    let net = part_net(&vs.root(), config);
    (vs, net)
}

/// Saves `vs` as `name` in `dir` and loads it back, which must fail: the error's text.
fn load_fails(vs: &VarStore, dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    weights::save(vs, &path).unwrap();
    weights::load_network(&path, Device::Cpu)
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn a_network_with_non_finite_weights_or_a_damaged_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (vs, _net) = small_network();
    let good = dir.path().join("good.safetensors");
    weights::save(&vs, &good).unwrap();
    weights::load_network(&good, Device::Cpu).unwrap();
    // One NaN in one tensor: named at load, not discovered as NaN features.
    tch::no_grad(|| {
        let _ = vs.variables()["base_resnet.base.layer2.0.conv1.weight"]
            .get(0)
            .get(0)
            .fill_(f64::NAN);
    });
    let err = load_fails(&vs, dir.path(), "nan.safetensors");
    assert!(
        err.contains("nan.safetensors") && err.contains("layer2.0.conv1.weight"),
        "{err}"
    );
    // Finite weights whose sum overflows float32 load (the one-pass check is only a
    // shortcut); one infinity among them is still named.
    tch::no_grad(|| {
        let _ = vs.variables()["base_resnet.base.layer2.0.conv1.weight"]
            .shallow_clone()
            .fill_(3e38);
    });
    let huge = dir.path().join("huge.safetensors");
    weights::save(&vs, &huge).unwrap();
    weights::load_network(&huge, Device::Cpu).unwrap();
    tch::no_grad(|| {
        let _ = vs.variables()["base_resnet.base.layer3.1.bn2.running_var"]
            .get(5)
            .fill_(f64::INFINITY);
    });
    let err = load_fails(&vs, dir.path(), "inf.safetensors");
    assert!(err.contains("layer3.1.bn2.running_var"), "{err}");
    // A truncated safetensors file is said in words, not in the library's variant names.
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let err = weights::read(&cut).map(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("cut.safetensors") && err.contains("truncated"),
        "{err}"
    );
    assert!(!err.contains("MetadataIncompleteBuffer"), "{err}");
}

/// A safetensors checkpoint is read as views of one mapping of the file (no copy), from a
/// read-only file (as root the permission binds nothing, the next check still does), with
/// writes to a view kept in the process: the file's bytes do not change. A tensor whose bytes
/// sit at an offset its type cannot view (after an odd-length float16 tensor, which no
/// writer emits but the format allows) is copied out with the right values.
#[test]
fn safetensors_are_read_in_place_from_a_read_only_file_and_misaligned_ones_copied() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (vs, _net) = small_network();
    let path = dir.path().join("ro.safetensors");
    weights::save(&vs, &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let read = weights::read(&path).unwrap();
    let key = "base_resnet.base.layer1.0.conv1.weight";
    assert!(same(&read.tensors[key], &vs.variables()[key]));
    let _ = read.tensors[key].shallow_clone().fill_(7.0);
    assert_eq!(f64::try_from(read.tensors[key].max()).unwrap(), 7.0);
    drop(read);
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
    let (loaded, _, _) = weights::load_network(&path, Device::Cpu).unwrap();
    let all = vs.variables();
    for (name, t) in loaded.variables() {
        if t.dim() == 4 {
            assert!(same(&t.contiguous(), &all[&name]), "{name}");
        } else {
            assert!(same(&t, &all[&name]), "{name}");
        }
    }

    // Views of one mapping: two float32 tensors 8 bytes apart in the file are 8 bytes apart
    // in memory. After float16 [1, 2, 3] (6 bytes), a float32 tensor at byte 6 cannot be
    // viewed and is copied.
    let f32s = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    let halves: Vec<u8> = [0x3c00u16, 0x4000, 0x4200]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    let aligned = safetensors_file(
        dir.path(),
        "aligned",
        &[
            ("b", "F32", f32s(&[0.5, -2.0])),
            ("c", "F32", f32s(&[3.0, 4.0])),
        ],
    );
    let read = weights::read(&aligned).unwrap();
    let at = |k: &str| read.tensors[k].data_ptr() as isize;
    assert_eq!(at("c") - at("b"), 8);
    assert_eq!(
        Vec::<f32>::try_from(&read.tensors["c"]).unwrap(),
        vec![3.0, 4.0]
    );
    let odd = safetensors_file(
        dir.path(),
        "odd",
        &[("a", "F16", halves), ("b", "F32", f32s(&[0.5, -2.0]))],
    );
    let read = weights::read(&odd).unwrap();
    assert_eq!(
        Vec::<f32>::try_from(&read.tensors["b"]).unwrap(),
        vec![0.5, -2.0]
    );
    let a = read.tensors["a"].to_kind(tch::Kind::Float);
    assert_eq!(Vec::<f32>::try_from(&a).unwrap(), vec![1.0, 2.0, 3.0]);
}

/// A safetensors file of 1-D tensors laid out in the order given, as the format allows.
fn safetensors_file(
    dir: &Path,
    name: &str,
    tensors: &[(&str, &str, Vec<u8>)],
) -> std::path::PathBuf {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (key, dtype, bytes) in tensors {
        let size = if *dtype == "F16" { 2 } else { 4 };
        let start = data.len();
        data.extend(bytes);
        header.insert(
            key.to_string(),
            serde_json::json!({"dtype": dtype, "shape": [bytes.len() / size], "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&header).unwrap();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend(data);
    let path = dir.join(format!("{name}.safetensors"));
    std::fs::write(&path, bytes).unwrap();
    path
}
