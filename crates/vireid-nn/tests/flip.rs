//! The GPU's flip path (the batch and its mirror as one batch of 2N) against the two passes
//! the CPU makes: the same features up to the kernels' rounding for the batch size.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_nn::features::{forward_batch, forward_flip_joined};
use vireid_nn::network::{part_net, Modality, NetConfig};
use vireid_nn::Depth;

#[test]
fn one_batch_of_two_n_equals_two_passes() {
    tch::manual_seed(4);
    let vs = VarStore::new(Device::Cpu);
    let net = part_net(
        &vs.root(),
        NetConfig {
            depth: Depth::R18,
            layer4: true,
            classes: 3,
        },
    );
    let xs = Tensor::randn([3, 3, 96, 48], (Kind::Float, Device::Cpu));
    for modality in [Modality::Visible, Modality::Thermal] {
        let (pool, bn) = forward_batch(&net, &xs, modality, true);
        let (jp, jb) = forward_flip_joined(&net, &xs, modality);
        for (a, b) in [(&pool, &jp), (&bn, &jb)] {
            assert_eq!(a.size(), b.size());
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{diff}");
        }
        // The mirror counts: without it the features differ.
        let (plain, _) = forward_batch(&net, &xs, modality, false);
        assert!((&plain - &pool).abs().max().double_value(&[]) > 1e-2);
    }
}
