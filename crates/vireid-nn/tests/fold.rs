//! BatchNorm folding and oneDNN's fused kernels (what `embed` runs) against the network as
//! trained: the same evaluation features up to float rounding, in both layouts and both unit
//! kinds, with running statistics far from the identity so that a wrong scale, shift or
//! epsilon shows.

use std::sync::Mutex;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_nn::network::{part_net, part_net_to_load, Modality, NetConfig};
use vireid_nn::{fused, Depth, PartNet};

/// libtorch's random stream is global to the process.
static RNG: Mutex<()> = Mutex::new(());

fn config(depth: Depth) -> NetConfig {
    NetConfig {
        depth,
        layer4: true,
        classes: 5,
    }
}

/// A network whose every BatchNorm has drawn statistics and affine terms: variances in
/// [0.01, 2] (where epsilon = 1e-5 is a visible share), means and shifts around zero.
fn trained_looking(depth: Depth, seed: i64) -> (VarStore, PartNet) {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let net = part_net(&vs.root(), config(depth));
    tch::no_grad(|| {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0)); // the same draws for the same names
        for (name, mut t) in vars {
            if t.dim() != 1 {
                continue;
            }
            let n = t.size()[0];
            let drawn = if name.ends_with("running_var") {
                Tensor::rand([n], (Kind::Float, Device::Cpu)) * 1.99 + 0.01
            } else if name.ends_with("weight") {
                Tensor::rand([n], (Kind::Float, Device::Cpu)) + 0.5
            } else {
                Tensor::randn([n], (Kind::Float, Device::Cpu)) * 0.2
            };
            t.copy_(&drawn);
        }
    });
    (vs, net)
}

fn largest(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn folded_features_equal_the_unfolded_network() {
    let _rng = RNG.lock().unwrap();
    // The libtorch this is built with has oneDNN (x86-64 wheels do): the fused path is the
    // one tested here, not a silent fallback.
    let probe = Tensor::zeros([1], (Kind::Float, Device::Cpu));
    assert!(
        fused::available(&probe),
        "oneDNN's fused convolutions are not available"
    );
    let cases = [
        (Depth::R18, false, false),
        (Depth::R18, true, false),
        (Depth::R18, false, true),
        (Depth::R18, true, true),
        (Depth::R50, true, true),
    ];
    for (depth, nhwc, fuse) in cases {
        let (vs, net) = trained_looking(depth, 11);
        let (vs2, twin) = trained_looking(depth, 11);
        let (net, twin) = if nhwc {
            (net.channels_last(&vs), twin.channels_last(&vs2))
        } else {
            (net, twin)
        };
        let folded = twin.fold_batch_norms(fuse);
        let xs = Tensor::randn([2, 3, 96, 48], (Kind::Float, Device::Cpu));
        for modality in [Modality::Visible, Modality::Thermal] {
            let (p0, b0) = tch::no_grad(|| net.forward_eval(&xs, modality));
            let (p1, b1) = tch::no_grad(|| folded.forward_eval(&xs, modality));
            // Features are unit rows of 4 * width values (~0.02 each for R18): rounding moves
            // them by ~1e-8; an epsilon left out moves them by ~1e-4, a missing shift by ~1e-2.
            for (a, b) in [(&p0, &p1), (&b0, &b1)] {
                let d = largest(a, b);
                assert!(
                    d < 2e-6,
                    "{depth} nhwc={nhwc} fuse={fuse} {modality:?}: {d}"
                );
            }
        }
        // The training forward keeps the BatchNorms (it must track their statistics).
        let vis = Tensor::randn([2, 3, 96, 48], (Kind::Float, Device::Cpu));
        let a = net.forward_train(&vis, &xs);
        let b = folded.forward_train(&vis, &xs);
        for (x, y) in a.pooled.iter().zip(&b.pooled) {
            assert_eq!(
                largest(x, y),
                0.0,
                "{depth}: training forward changed by folding"
            );
        }
    }
}

#[test]
fn a_network_built_for_loading_draws_nothing() {
    let _rng = RNG.lock().unwrap();
    tch::manual_seed(5);
    let expected = Tensor::randn([8], (Kind::Float, Device::Cpu));
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let _net = part_net_to_load(&vs.root(), config(Depth::R18));
    let after = Tensor::randn([8], (Kind::Float, Device::Cpu));
    assert_eq!(largest(&expected, &after), 0.0);
    // Same names and shapes as the network built to train.
    let vs2 = VarStore::new(Device::Cpu);
    let _ = part_net(&vs2.root(), config(Depth::R18));
    let shapes = |vs: &VarStore| {
        let mut v: Vec<(String, Vec<i64>)> = vs
            .variables()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shapes(&vs), shapes(&vs2));
}
