//! Where `prepare` spends its time, one thread: read, decode, resize (a profiling aid).
//! usage: cargo run --release -p vireid-data --example stage_times -- SYSU_ROOT [LIMIT]
use std::time::Instant;
use vireid_data::image_io::{decode_bytes, ImageResizer};
use vireid_data::{sysu, Size};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = std::path::PathBuf::from(&args[1]);
    let limit: usize = args.get(2).map_or(2000, |s| s.parse().unwrap());
    let set = sysu::train_set(&root).unwrap();
    let items: Vec<_> = set.visible.iter().chain(&set.thermal).take(limit).collect();
    let size = Size::REFERENCE;
    let t = Instant::now();
    let bytes: Vec<Vec<u8>> = items
        .iter()
        .map(|i| std::fs::read(root.join(&i.path)).unwrap())
        .collect();
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let imgs: Vec<_> = items
        .iter()
        .zip(&bytes)
        .map(|(i, b)| decode_bytes(&i.path, b).unwrap())
        .collect();
    let dec = t.elapsed().as_secs_f64();
    let mut r = ImageResizer::new();
    let mut out = vec![0u8; size.rgb_len()];
    let t = Instant::now();
    for (i, img) in items.iter().zip(&imgs) {
        r.resize_into(img, size, &mut out, &i.path).unwrap();
    }
    let res = t.elapsed().as_secs_f64();
    let n = items.len() as f64;
    println!(
        "{} images: read {:.0}/s, decode {:.0}/s, resize {:.0}/s, together {:.0}/s",
        n,
        n / read,
        n / dec,
        n / res,
        n / (read + dec + res)
    );
}
