//! The mixed-precision step's loss scaling, run on the CPU where autocast does nothing: with
//! a power-of-two scale it must give the fp32 step exactly, and an overflowing scale must
//! skip the update and halve the scale.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_engine::amp::{train_step_amp, LossScale, INITIAL_SCALE};
use vireid_engine::sgd::{Sgd, SgdConfig};
use vireid_engine::step::train_step;
use vireid_nn::network::{part_net, NetConfig, PartNet};
use vireid_nn::Depth;

/// libtorch's generator is global and the tests run on parallel threads.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> (VarStore, PartNet, Sgd) {
    tch::manual_seed(11);
    let vs = VarStore::new(Device::Cpu);
    let net = part_net(
        &vs.root(),
        NetConfig {
            depth: Depth::R18,
            layer4: true,
            classes: 4,
        },
    );
    let mut sgd = Sgd::new(&vs, SgdConfig::default());
    sgd.set_lr(0.01);
    (vs, net, sgd)
}

fn batch() -> (Tensor, Tensor, Tensor) {
    tch::manual_seed(5);
    let v = Tensor::randn([4, 3, 96, 48], (Kind::Float, Device::Cpu));
    let t = Tensor::randn([4, 3, 96, 48], (Kind::Float, Device::Cpu));
    let labels = Tensor::from_slice(&[0i64, 0, 1, 1, 0, 0, 1, 1]);
    (v, t, labels)
}

fn weights(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut w: Vec<_> = vs.variables().into_iter().collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w.into_iter().map(|(k, t)| (k, t.copy())).collect()
}

#[test]
fn scaled_step_equals_the_fp32_step() {
    let _rng = TORCH_RNG.lock().unwrap();
    let (v, t, labels) = batch();
    let (vs_a, net_a, mut sgd_a) = setup();
    let (vs_b, net_b, mut sgd_b) = setup();
    let mut scale = LossScale::default();
    for _ in 0..2 {
        let a = train_step(&net_a, &mut sgd_a, None, &v, &t, &labels).unwrap();
        let b = train_step_amp(&net_b, &mut sgd_b, None, &mut scale, &v, &t, &labels).unwrap();
        assert_eq!(a, b, "the reported losses are unscaled");
    }
    assert_eq!(scale.scale, INITIAL_SCALE);
    assert_eq!(scale.good_steps, 2);
    for ((name, a), (_, b)) in weights(&vs_a).iter().zip(weights(&vs_b).iter()) {
        let diff = (a - b).abs().max().double_value(&[]);
        assert_eq!(diff, 0.0, "{name} differs by {diff}");
    }
}

#[test]
fn overflow_skips_the_update_and_halves_the_scale() {
    let _rng = TORCH_RNG.lock().unwrap();
    let (v, t, labels) = batch();
    let (vs, net, mut sgd) = setup();
    let before = weights(&vs);
    // Far beyond float32: the scaled gradients overflow.
    let mut scale = LossScale {
        scale: 2f64.powi(200),
        ..LossScale::default()
    };
    let losses = train_step_amp(&net, &mut sgd, None, &mut scale, &v, &t, &labels).unwrap();
    assert!(losses.total.is_finite());
    assert_eq!(scale.scale, 2f64.powi(199));
    assert_eq!(scale.skipped, 1);
    for ((name, a), (_, b)) in before.iter().zip(weights(&vs).iter()) {
        if name.contains("running") || name.contains("num_batches") {
            continue; // the forward pass still updates BatchNorm statistics, as PyTorch does
        }
        assert_eq!(
            (a - b).abs().max().double_value(&[]),
            0.0,
            "{name} changed in a skipped step"
        );
    }
    assert!(sgd.state().is_empty(), "a skipped step leaves no momentum");
}
