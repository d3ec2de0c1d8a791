//! Augmentation throughput per preset at 384 x 192, one thread and all threads, beside the
//! reference's rates measured on this kind of machine (issue #4: torchvision and the RLE
//! transforms, one thread: 680 images/s SYSU-MM01, 654 RegDB).
//! usage: cargo run --release -p vireid-augment --example throughput [-- IMAGES]
use std::time::Instant;
use vireid_augment::{augment_batch, Preset, SourceImage};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(2048, |s| s.parse().expect("a number"));
    let (h, w) = (384, 192);
    let mut state = 1u32;
    let pixels: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            (0..h * w * 3)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect()
        })
        .collect();
    let batch = 64;
    let srcs: Vec<SourceImage> = pixels
        .iter()
        .map(|p| SourceImage {
            pixels: p,
            height: h,
            width: w,
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("{n} augmentations of 384 x 192 images, batches of {batch}");
    println!(
        "{:<8}{:>9}{:>11}{:>22}",
        "preset", "threads", "images/s", "x reference/thread"
    );
    for (preset, reference) in [
        (Preset::sysu(), 680.0),
        (Preset::regdb(), 654.0),
        (Preset::llcm(), 654.0),
    ] {
        let mut out = vec![0f32; batch * preset.output_len()];
        let mut rates = Vec::new();
        for threads in [1, cores] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let start = Instant::now();
            pool.install(|| {
                for b in 0..n / batch {
                    augment_batch(&preset, &srcs, 1, (b * batch) as u64, &mut out).unwrap();
                }
            });
            let rate = (n / batch * batch) as f64 / start.elapsed().as_secs_f64();
            rates.push(rate);
            println!(
                "{:<8}{:>9}{:>11.0}{:>22.2}",
                preset.name,
                threads,
                rate,
                rate / threads as f64 / reference
            );
        }
        println!(
            "{:<8}scaling {:.2}x on {cores} threads",
            "",
            rates[1] / rates[0]
        );
    }
}
