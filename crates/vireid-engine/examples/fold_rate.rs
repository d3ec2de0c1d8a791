//! Evaluation images/s of a checkpoint's network as loaded, with its BatchNorms folded into
//! the convolutions, and folded with oneDNN's fused kernels (convolution + ReLU, convolution +
//! residual + ReLU), alternating in one run, and the largest feature difference to the first:
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
    let folded = load().fold_batch_norms(false);
    let fused = load().fold_batch_norms(true);
    tch::manual_seed(0);
    // FOLD_RATE_INPUT=batch.npy: real images (N x 3 x H x W, normalised) instead of noise.
    let xs = match std::env::var("FOLD_RATE_INPUT") {
        Ok(npy) => Tensor::read_npy(npy)
            .expect("an .npy batch")
            .narrow(0, 0, batch),
        Err(_) => Tensor::randn([batch, 3, h, w], (Kind::Float, Device::Cpu)),
    };
    let run = |net: &vireid_nn::PartNet| tch::no_grad(|| net.forward_eval(&xs, Modality::Visible));
    let (p0, b0) = run(&plain);
    let (p1, b1) = run(&folded);
    let (p2, b2) = run(&fused);
    let diff = |x: &Tensor, y: &Tensor| f64::try_from((x - y).abs().max()).unwrap();
    let mut seconds = [0f64; 3];
    for _ in 0..rounds {
        for (i, net) in [&plain, &folded, &fused].into_iter().enumerate() {
            let t = Instant::now();
            let _features = run(net);
            seconds[i] += t.elapsed().as_secs_f64();
        }
    }
    let rate = |s: f64| ((batch * rounds) as f64 / s * 100.0).round() / 100.0;
    let report = serde_json::json!({
        "batch": batch,
        "rounds": rounds,
        "threads": threads,
        "plain_images_per_second": rate(seconds[0]),
        "folded_images_per_second": rate(seconds[1]),
        "fused_images_per_second": rate(seconds[2]),
        "folded_speedup": seconds[0] / seconds[1],
        "fused_speedup": seconds[0] / seconds[2],
        "max_difference_folded": diff(&p0, &p1).max(diff(&b0, &b1)),
        "max_difference_fused": diff(&p0, &p2).max(diff(&b0, &b2)),
    });
    println!("{report}");
}
