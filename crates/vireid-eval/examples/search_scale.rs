//! Exact search at scale: queries/s of `vireid_eval::search::top_k` (top 10, fused score)
//! over a synthetic gallery of N vectors of D dimensions (pool and bn each), and this
//! process's peak resident memory. One size a process, so the peak is that size's:
//!   cargo run --release -p vireid-eval --example search_scale -- N [QUERIES] [D]
//! scripts/bench-search.sh runs 10k, 100k and 1M.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[path = "common/peak.rs"]
mod peak;
use peak::peak_mb;
use vireid_eval::search::{top_k, FeaturePair};

fn random(rows: usize, dim: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, dim), || rng.random::<f32>() - 0.5)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("whole numbers: N [QUERIES] [D]"))
        .collect();
    let n = *args.first().expect("usage: search_scale N [QUERIES] [D]");
    let queries = args.get(1).copied().unwrap_or(256);
    let dim = args.get(2).copied().unwrap_or(2048);
    let (gp, gb) = (random(n, dim, 1), random(n, dim, 2));
    let (qp, qb) = (random(queries, dim, 3), random(queries, dim, 4));
    let gallery = FeaturePair {
        pool: gp.view(),
        bn: gb.view(),
    };
    let q = FeaturePair {
        pool: qp.view(),
        bn: qb.view(),
    };
    // One query alone (the latency a person waits for), then a batch (the throughput).
    let one = FeaturePair {
        pool: qp.slice(ndarray::s![..1, ..]),
        bn: qb.slice(ndarray::s![..1, ..]),
    };
    let t = Instant::now();
    let hits = top_k(one, gallery, 0.5, 10).expect("valid inputs");
    let single = t.elapsed().as_secs_f64();
    assert_eq!(hits[0].len(), 10.min(n));
    let t = Instant::now();
    let hits = top_k(q, gallery, 0.5, 10).expect("valid inputs");
    let batch = t.elapsed().as_secs_f64();
    assert_eq!(hits.len(), queries);
    // gallery, queries, one query's seconds, queries/s, peak MB (scripts/bench-search.sh's
    // columns).
    println!(
        "{n:<10} {queries:>8} {single:>14.3} {:>12.1} {:>10.0}",
        queries as f64 / batch,
        peak_mb()
    );
}
