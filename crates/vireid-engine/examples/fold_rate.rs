//! Evaluation images/s of a checkpoint's network with and without its BatchNorms folded into
//! the convolutions, alternating in one run, and the largest feature difference between them:
//! `cargo run --release -p vireid-engine --example fold_rate -- CHECKPOINT [BATCH ROUNDS THREADS H W]`
//! (default 16 3 2 384 192). Prints JSON.

use std::time::Instant;
use tch::{Device, Kind, Tensor};
use vireid_nn::{weights, Modality};

// The vireid command's allocator, so that the figure is the command's.
vireid_engine::use_jemalloc!();

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let path = a.first().expect("a checkpoint path");
    let get = |i: usize, d: i64| a.get(i).map_or(d, |s| s.parse().expect("an integer"));
    let (batch, rounds, threads, h, w) =
        (get(1, 16), get(2, 3), get(3, 2), get(4, 384), get(5, 192));
    tch::set_num_threads(threads as i32);
    let load = || {
        weights::load_network(path.as_ref(), Device::Cpu)
            .expect("a checkpoint")
            .1
    };
    let plain = load();
    let folded = load().fold_batch_norms();
    tch::manual_seed(0);
    let xs = Tensor::randn([batch, 3, h, w], (Kind::Float, Device::Cpu));
    let run = |net: &vireid_nn::PartNet| tch::no_grad(|| net.forward_eval(&xs, Modality::Visible));
    let (p0, b0) = run(&plain);
    let (p1, b1) = run(&folded);
    let diff = |x: &Tensor, y: &Tensor| f64::try_from((x - y).abs().max()).unwrap();
    let mut seconds = [0f64; 2];
    for _ in 0..rounds {
        for (i, net) in [&plain, &folded].into_iter().enumerate() {
            let t = Instant::now();
            let _features = run(net);
            seconds[i] += t.elapsed().as_secs_f64();
        }
    }
    let rate = |s: f64| (batch * rounds) as f64 / s;
    println!(
        "{{\"batch\": {batch}, \"rounds\": {rounds}, \"threads\": {threads}, \
         \"plain_images_per_second\": {:.2}, \"folded_images_per_second\": {:.2}, \
         \"speedup\": {:.3}, \"max_pool_difference\": {:.3e}, \"max_bn_difference\": {:.3e}}}",
        rate(seconds[0]),
        rate(seconds[1]),
        seconds[0] / seconds[1],
        diff(&p0, &p1),
        diff(&b0, &b1)
    );
}
