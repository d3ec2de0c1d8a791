//! Seconds per training step of the ResNet-50 part network (forward, the four losses,
//! backward, SGD), on CPU: `cargo run --release -p vireid-engine --example step_time -- [B K H W
//! STEPS THREADS]` (default 2 2 384 192 5 2: 8 images a step, as the reference
//! figure). Prints JSON. scripts/bench-train.sh runs it beside PyTorch.

use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vireid_engine::sgd::{Sgd, SgdConfig};
use vireid_engine::step::train_step;
use vireid_nn::network::part_net;
use vireid_nn::{Depth, NetConfig};

// The vireid command's allocator, so that the figure is the command's.
vireid_engine::use_jemalloc!();

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("integers"))
        .collect();
    let get = |i: usize, d: usize| a.get(i).copied().unwrap_or(d);
    let (b, k, h, w, steps, threads) = (
        get(0, 2),
        get(1, 2),
        get(2, 384),
        get(3, 192),
        get(4, 5),
        get(5, 2),
    );
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let net = part_net(
        &vs.root(),
        NetConfig {
            depth: Depth::R50,
            layer4: true,
            classes: 395,
        },
    );
    // VIREID_CHANNELS_LAST=1 measures the channels-last layout (not what training uses).
    let net = if std::env::var("VIREID_CHANNELS_LAST").is_ok_and(|v| v == "1") {
        net.channels_last(&vs)
    } else {
        net
    };
    let mut sgd = Sgd::new(&vs, SgdConfig::default());
    sgd.set_lr(0.01);
    let n = (b * k) as i64;
    let vis = Tensor::randn([n, 3, h as i64, w as i64], (Kind::Float, Device::Cpu));
    let thr = Tensor::randn([n, 3, h as i64, w as i64], (Kind::Float, Device::Cpu));
    let ids: Vec<i64> = (0..b as i64)
        .flat_map(|i| std::iter::repeat_n(i, k))
        .collect();
    let labels = Tensor::from_slice(&[ids.clone(), ids].concat());
    train_step(&net, &mut sgd, None, &vis, &thr, &labels).unwrap(); // warm-up
    let start = Instant::now();
    for _ in 0..steps {
        train_step(&net, &mut sgd, None, &vis, &thr, &labels).unwrap();
    }
    let secs = start.elapsed().as_secs_f64() / steps as f64;
    println!("{{\"images\": {}, \"seconds_per_step\": {secs}}}", 2 * n);
}
