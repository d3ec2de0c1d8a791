//! The flat-buffer SGD against the per-parameter update it replaced (torch.optim.SGD's
//! formula applied to each parameter tensor on its own, as vireid did before): the same
//! network, batches and schedule give the same weights and momentum buffers, byte for byte,
//! after several steps, on both learning-rate groups.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_engine::loss::part_losses;
use vireid_engine::sgd::{group_of, Sgd, SgdConfig};
use vireid_engine::step::train_step;
use vireid_nn::network::{part_net, NetConfig, PartNet, GROUP_BACKBONE, GROUP_HEADS};
use vireid_nn::Depth;

const STEPS: i64 = 4;

/// libtorch's generator is global and the tests run on parallel threads.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
const WD: f64 = 5e-4;
const M: f64 = 0.9;

fn net() -> (VarStore, PartNet) {
    tch::manual_seed(21);
    let vs = VarStore::new(Device::Cpu);
    let net = part_net(
        &vs.root(),
        NetConfig {
            depth: Depth::R18,
            layer4: true,
            classes: 5,
        },
    );
    (vs, net)
}

fn batch(step: i64) -> (Tensor, Tensor, Tensor) {
    tch::manual_seed(50 + step);
    let v = Tensor::randn([6, 3, 96, 48], (Kind::Float, Device::Cpu));
    let t = Tensor::randn([6, 3, 96, 48], (Kind::Float, Device::Cpu));
    let labels = Tensor::from_slice(&[0i64, 0, 1, 1, 4, 4, 0, 0, 1, 1, 4, 4]);
    (v, t, labels)
}

/// Learning rates that change between steps (as warm-up does), heads at 10x the backbone.
fn lrs(step: i64) -> [f64; 2] {
    let heads = 0.01 * (step + 1) as f64;
    let mut lr = [0.0; 2];
    lr[GROUP_HEADS] = heads;
    lr[GROUP_BACKBONE] = 0.1 * heads;
    lr
}

/// The per-parameter update: for each parameter with a gradient,
/// d = g + wd p; b = m b + d (b = d at first); d += m b; p -= lr d.
fn per_parameter_step(params: &[(String, Tensor)], buffers: &mut [Option<Tensor>], lr: [f64; 2]) {
    tch::no_grad(|| {
        for ((name, p), buffer) in params.iter().zip(buffers.iter_mut()) {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let mut d = &g + p * WD;
            let b = match buffer.take() {
                None => d.copy(),
                Some(mut b) => {
                    let _ = b.g_mul_scalar_(M);
                    b += &d;
                    b
                }
            };
            d += &b * M;
            *buffer = Some(b);
            let mut p = p.shallow_clone();
            p -= d * lr[group_of(name)];
        }
    });
}

/// The flat optimiser with the constants the per-parameter update uses.
fn reference_sgd(vs: &VarStore) -> Sgd {
    Sgd::new(
        vs,
        SgdConfig {
            momentum: M,
            weight_decay: WD,
            nesterov: true,
        },
    )
}

/// One training step of `net` on step `step`'s batch with the per-parameter update.
fn reference_step(
    net: &PartNet,
    params: &[(String, Tensor)],
    buffers: &mut [Option<Tensor>],
    step: i64,
) {
    let (v, t, labels) = batch(step);
    let out = net.forward_train(&v, &t);
    let losses = part_losses(&out.pooled, &out.logits, &labels).unwrap();
    for (_, p) in params {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    losses.total.backward();
    per_parameter_step(params, buffers, lrs(step));
}

fn sorted(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut w: Vec<_> = vs.variables().into_iter().collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn bytes(t: &Tensor) -> Vec<u8> {
    let t = t.contiguous();
    let mut out = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
    t.copy_data_u8(&mut out, t.numel());
    out
}

#[test]
fn flat_update_equals_the_per_parameter_update_byte_for_byte() {
    let _rng = TORCH_RNG.lock().unwrap();
    tch::set_num_threads(1);
    let (vs_a, net_a) = net();
    let (vs_b, net_b) = net();
    let mut sgd = reference_sgd(&vs_a);
    let params_b: Vec<(String, Tensor)> = sorted(&vs_b)
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let mut buffers: Vec<Option<Tensor>> = params_b.iter().map(|_| None).collect();
    for step in 0..STEPS {
        let (v, t, labels) = batch(step);
        let [backbone, heads] = [lrs(step)[GROUP_BACKBONE], lrs(step)[GROUP_HEADS]];
        sgd.set_lrs(heads, backbone);
        train_step(&net_a, &mut sgd, None, &v, &t, &labels).unwrap();
        reference_step(&net_b, &params_b, &mut buffers, step);
    }
    let (a, b) = (sorted(&vs_a), sorted(&vs_b));
    assert_eq!(a.len(), b.len());
    let mut trained = 0;
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(bytes(x), bytes(y), "{name} differs");
        trained += x.requires_grad() as usize;
    }
    assert!(trained > 60, "{trained} trained variables");
    let mut state = sgd.state();
    state.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(state.len(), params_b.len());
    for ((name, s), ((other, _), b)) in state.iter().zip(params_b.iter().zip(&buffers)) {
        assert_eq!(name, other);
        assert_eq!(
            bytes(s),
            bytes(b.as_ref().unwrap()),
            "momentum of {name} differs"
        );
    }
    // And the weights moved.
    let (vs_init, _) = net();
    let moved = sorted(&vs_init)
        .iter()
        .zip(&a)
        .filter(|((_, i), (_, x))| x.requires_grad() && bytes(i) != bytes(x))
        .count();
    assert_eq!(moved, trained);
}

/// The state written and read back through the flat buffer: a second optimiser restored from
/// the first's state continues identically.
#[test]
fn momentum_state_round_trips() {
    let _rng = TORCH_RNG.lock().unwrap();
    tch::set_num_threads(1);
    let (vs_a, net_a) = net();
    let mut a = Sgd::new(&vs_a, SgdConfig::default());
    a.set_lr(0.02);
    let (v, t, labels) = batch(0);
    train_step(&net_a, &mut a, None, &v, &t, &labels).unwrap();
    let (mut vs_b, net_b) = net();
    let mut b = Sgd::new(&vs_b, SgdConfig::default());
    b.set_lr(0.02);
    vs_b.copy(&vs_a).unwrap();
    b.load_state(a.state().into_iter().map(|(n, t)| (n, t.copy())).collect())
        .unwrap();
    let (v, t, labels) = batch(1);
    train_step(&net_a, &mut a, None, &v, &t, &labels).unwrap();
    train_step(&net_b, &mut b, None, &v, &t, &labels).unwrap();
    for ((name, x), (_, y)) in sorted(&vs_a).iter().zip(&sorted(&vs_b)) {
        assert_eq!(bytes(x), bytes(y), "{name} differs");
    }
    let err = b
        .load_state(vec![(
            "no.such".into(),
            Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        )])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("optimizer state") || err.contains("no.such"),
        "{err}"
    );
}

/// A channels-last network (what CUDA mixed-precision training uses) on the flat buffers: its
/// convolution weights and their gradients stay channels-last views of the buffers (so the
/// convolutions still get the layout), and the steps give the same bytes as the per-parameter
/// update of the same channels-last network.
#[test]
fn channels_last_parameters_keep_their_layout_in_the_flat_buffers() {
    let _rng = TORCH_RNG.lock().unwrap();
    tch::set_num_threads(1);
    let (vs_a, net_a) = net();
    let net_a = net_a.channels_last(&vs_a);
    let (vs_b, net_b) = net();
    let net_b = net_b.channels_last(&vs_b);
    let mut sgd = reference_sgd(&vs_a);
    let name = "base_resnet.base.layer1.0.conv1.weight";
    let weight = vs_a.variables()[name].shallow_clone();
    let nhwc = |t: &Tensor| !t.is_contiguous() && t.stride()[1] == 1;
    assert!(nhwc(&weight), "{name}: {:?}", weight.stride());
    let params_b: Vec<(String, Tensor)> = sorted(&vs_b)
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let mut buffers: Vec<Option<Tensor>> = params_b.iter().map(|_| None).collect();
    for step in 0..3 {
        let (v, t, labels) = batch(step);
        let [backbone, heads] = [lrs(step)[GROUP_BACKBONE], lrs(step)[GROUP_HEADS]];
        sgd.set_lrs(heads, backbone);
        train_step(&net_a, &mut sgd, None, &v, &t, &labels).unwrap();
        // Gradients accumulated into the channels-last view, not a new tensor beside it.
        assert!(nhwc(&weight.grad()), "grad {:?}", weight.grad().stride());
        assert!(nhwc(&weight));
        reference_step(&net_b, &params_b, &mut buffers, step);
    }
    let (a, b) = (sorted(&vs_a), sorted(&vs_b));
    let (vs_init, _) = net();
    let init = sorted(&vs_init);
    let mut moved = 0;
    for (((name, x), (_, y)), (_, i)) in a.iter().zip(&b).zip(&init) {
        assert_eq!(bytes(x), bytes(y), "{name} differs");
        moved += (x.requires_grad() && bytes(x) != bytes(i)) as usize;
    }
    assert!(moved > 60, "{moved} weights moved");
    let mut state = sgd.state();
    state.sort_by(|p, q| p.0.cmp(&q.0));
    for ((name, s), ((other, _), b)) in state.iter().zip(params_b.iter().zip(&buffers)) {
        assert_eq!(name, other);
        let b = b.as_ref().unwrap();
        assert_eq!(s.size(), b.size(), "{name}");
        assert_eq!(bytes(s), bytes(b), "momentum of {name} differs");
    }
}
